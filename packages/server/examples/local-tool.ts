/**
 * A local tool that signs in to the Gatehouse server of this machine without a pairing code, by
 * proving that it runs as the same OS user as the server (POSIX only). Copy it into your own tool.
 *
 *   node packages/server/examples/local-tool.ts [state directory, default .gatehouse]
 *
 * 1. Read `<state directory>/server.json` for the server's URL (`gatehouse serve` writes it). The
 *    proof works only over loopback, so set `GATEHOUSE_URL` if the server is announced under
 *    another address (a public URL behind a proxy, say).
 * 2. `POST /api/auth/local-proof/challenge`: a nonce, a file name and the server's private directory.
 * 3. Write the nonce into `<directory>/<fileName>`: created here with `wx` (never over something
 *    already there, never through a link) and mode 0600. Only the server's own OS user can create
 *    a file in that directory, which is what the server is checking.
 * 4. `POST /api/auth/local-proof` with the file name: the server reads and removes the file and
 *    answers a bearer session token, in this one response.
 * 5. Use it: `Authorization: Bearer <token>`. Keep it out of logs, URLs and command lines.
 *
 * Plain Node (22.18 or later runs this TypeScript as it is): no Gatehouse package needed.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"

const stateDir = process.argv[2] ?? ".gatehouse"

const serverUrl = async (): Promise<string> => {
  if (process.env["GATEHOUSE_URL"] !== undefined) return process.env["GATEHOUSE_URL"]
  const announced = JSON.parse(await Fs.readFile(Path.join(stateDir, "server.json"), "utf8")) as { baseUrl: string }
  return announced.baseUrl
}

const postJson = async (url: URL, body: unknown) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  if (!response.ok) throw new Error(`${url.pathname}: ${response.status} ${await response.text()}`)
  return response.json()
}

const baseUrl = await serverUrl()

const challenge = await postJson(new URL("/api/auth/local-proof/challenge", baseUrl), {}) as {
  nonce: string
  fileName: string
  directory: string
}

const file = Path.join(challenge.directory, challenge.fileName)
const handle = await Fs.open(file, "wx", 0o600)
try {
  // The umask may have taken bits away from 0600; the server wants exactly 0600.
  await handle.chmod(0o600)
  await handle.writeFile(`${challenge.nonce}\n`)
} finally {
  await handle.close()
}

const session = await postJson(new URL("/api/auth/local-proof", baseUrl), {
  fileName: challenge.fileName,
  client: { label: "local-tool example" }
}) as { accessToken: string; session: { subject: string; scopes: Array<string> } }

const hello = await fetch(new URL("/api/hello", baseUrl), {
  headers: { authorization: `Bearer ${session.accessToken}` }
})
if (!hello.ok) throw new Error(`/api/hello: ${hello.status} ${await hello.text()}`)
console.log(`Signed in as ${session.session.subject} (${session.session.scopes.join(" ")})`)
console.log(`/api/hello: ${JSON.stringify(await hello.json())}`)
