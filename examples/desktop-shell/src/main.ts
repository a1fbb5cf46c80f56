/**
 * A stand-in for a desktop shell's main process (Electron's, say): it launches the backend with a
 * bootstrap credential on fd 3, prints the URL its window would load, and stops the backend on
 * Ctrl+C / SIGTERM. In a real shell:
 *
 *   const backend = await launchBackend({ stateDir: Path.join(app.getPath("userData"), "gatehouse") })
 *   await window.loadURL(backend.pairWindowUrl) // pairs the window; the page drops the token from the URL
 *   app.on("window-all-closed", () => backend.stop().then(() => app.quit()))
 *
 *   npm start -w examples/desktop-shell -- [--port 4000] [--state-dir DIR]
 */
import * as Path from "node:path"
import { parseArgs } from "node:util"
import { launchBackend } from "./backend.ts"

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "state-dir": { type: "string", default: Path.join(import.meta.dirname, "..", ".gatehouse") }
  }
})

// Listen for the stop signals from the start: one that arrives while the backend starts still
// stops it. (Ctrl+C in a terminal also reaches the backend itself; either way it exits 0.)
let stopRequested: (signal: NodeJS.Signals) => void = () => {}
const stopSignal = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve))
process.on("SIGINT", stopRequested)
process.on("SIGTERM", stopRequested)

let backend
try {
  backend = await launchBackend({ stateDir: values["state-dir"], port: Number(values.port) })
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error))
  process.exit(1)
}

console.log(`Backend ready at ${backend.url} (pid ${backend.pid}).`)
console.log("A desktop shell would load this URL in its window; open it in a browser to play the window.")
console.log("It pairs once, as administrator:")
console.log(`  ${backend.pairWindowUrl}`)
console.log("Press Ctrl+C to stop.")

const stopped = await Promise.race([stopSignal, backend.exited.then(() => undefined)])
if (stopped === undefined) {
  const exit = await backend.exited
  console.error(`The backend exited on its own (code ${exit.code}, signal ${exit.signal}).`)
  process.exit(1)
}
console.log(`${stopped}: stopping the backend...`)
const exit = await backend.stop()
console.log(`The backend exited (code ${exit.code}, signal ${exit.signal}).`)
process.exit(exit.code === 0 ? 0 : 1)
