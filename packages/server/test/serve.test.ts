/**
 * `gatehouse serve` as a child process: the bin itself, as a desktop shell launches it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Crockford } from "@gatehouse-auth/core"
import { freePort, tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import { bearerBootstrap, eventually, exited, openSocket, pairingUrl, request, serve, waitFor } from "./helpers.ts"

const administrative = ["read:hello", "write:hello", "read:runs", "write:tasks", "read:access", "write:access"]

describe("gatehouse serve", () => {
  it.live("prints one Pairing URL line and a QR code; the URL pairs an administrator; --port and --state-dir are honoured", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const stateDir = Path.join(yield* tempDirectory, "state")
      const served = yield* serve(["--port", String(port), "--state-dir", stateDir])
      const pairing = yield* pairingUrl(served)
      yield* waitFor(served, /It works once/)

      assert.strictEqual(pairing.port, port)
      assert.strictEqual(served.stdout().match(/^Pairing URL: /gm)?.length, 1)
      // The QR code: rows of block characters right after the URL line.
      const afterUrl = served.stdout().split("\n").slice(
        served.stdout().split("\n").findIndex((line) => line.startsWith("Pairing URL:")) + 1
      )
      assert.isAtLeast(afterUrl.filter((line) => /^[█▀▄ ]{20,}$/.test(line)).length, 10)

      // The page the URL points at is served.
      const page = yield* request(`${pairing.origin}/pair`)
      assert.strictEqual(page.status, 200)
      assert.match(String(page.headers["content-type"]), /^text\/html/)

      // Its token is an administrative, single-use grant.
      const exchanged = yield* bearerBootstrap(pairing.origin, pairing.token)
      assert.strictEqual(exchanged.status, 200)
      assert.sameMembers(exchanged.json.session.scopes, administrative)
      const hello = yield* request(`${pairing.origin}/api/hello`, {
        headers: { authorization: `Bearer ${exchanged.json.accessToken}` }
      })
      assert.deepStrictEqual(hello.json, { hello: "owner" })
      const sessions = yield* request(`${pairing.origin}/api/auth/sessions`, {
        headers: { authorization: `Bearer ${exchanged.json.accessToken}` }
      })
      assert.strictEqual(sessions.status, 200)
      assert.strictEqual((yield* bearerBootstrap(pairing.origin, pairing.token)).status, 401)

      // State is in the state directory: the SQLite database, the key that wraps the signing keys
      // stored in it and the guest pepper; directories 0700, files 0600.
      assert.strictEqual(Fs.statSync(stateDir).mode & 0o777, 0o700)
      const secrets = Path.join(stateDir, "secrets")
      assert.strictEqual(Fs.statSync(secrets).mode & 0o777, 0o700)
      assert.deepStrictEqual(Fs.readdirSync(secrets).sort(), ["guest-session-pepper.bin", "keyring-wrapping-key.bin"])
      assert.include(Fs.readdirSync(stateDir), "gatehouse.db")
      for (const dir of [stateDir, secrets]) {
        for (const file of Fs.readdirSync(dir)) {
          const stat = Fs.statSync(Path.join(dir, file))
          if (stat.isFile()) assert.strictEqual(stat.mode & 0o777, 0o600, file)
        }
      }
    }))

  it.live("reads the port from GATEHOUSE_PORT when --port is absent; --port wins over it", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const fromEnv = yield* freePort
      const served = yield* serve(["--state-dir", stateDir], { env: { GATEHOUSE_PORT: String(fromEnv) } })
      assert.strictEqual((yield* pairingUrl(served)).port, fromEnv)

      const fromFlag = yield* freePort
      const both = yield* serve(["--state-dir", stateDir, "--port", String(fromFlag)], { env: { GATEHOUSE_PORT: "1" } })
      assert.strictEqual((yield* pairingUrl(both)).port, fromFlag)
    }))

  it.live("defaults to 127.0.0.1:3773 and ./.gatehouse", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDirectory
      const served = yield* serve(["--help"], { cwd })
      yield* exited(served)
      assert.match(served.stdout(), /--port/)
      assert.match(served.stdout(), /--desktop-bootstrap-fd/)
      // Only check the default bind when 3773 is free here (another server may be running).
      const free = yield* Effect.promise(() =>
        new Promise<boolean>((resolve) => {
          const probe = Net.createServer()
          probe.once("error", () => resolve(false))
          probe.listen(3773, "127.0.0.1", () => probe.close(() => resolve(true)))
        })
      )
      if (!free) return
      const defaults = yield* serve([], { cwd })
      assert.strictEqual((yield* pairingUrl(defaults)).origin, "http://127.0.0.1:3773")
      assert.isTrue(Fs.existsSync(Path.join(cwd, ".gatehouse", "gatehouse.db")))
    }))

  it.live("--desktop-bootstrap-fd: the credential written to fd 3 pairs once, with administrative scopes, and is never printed", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const credential = Crockford.generate()
      const served = yield* serve(["--port", "0", "--state-dir", stateDir, "--desktop-bootstrap-fd", "3"], {
        fd3: true
      })
      const pipe = served.child.stdio[3] as NodeJS.WritableStream
      pipe.write(`${credential}\n`)
      const pairing = yield* pairingUrl(served)

      const state = yield* request(`${pairing.origin}/api/auth/session`)
      assert.strictEqual(state.json.auth.policy, "desktop-managed-local")

      // Typed the way a person might: lower case with dashes.
      const exchanged = yield* bearerBootstrap(pairing.origin, Crockford.format(credential).toLowerCase())
      assert.strictEqual(exchanged.status, 200)
      assert.strictEqual(exchanged.json.session.method, "desktop")
      assert.sameMembers(exchanged.json.session.scopes, administrative)
      assert.strictEqual((yield* bearerBootstrap(pairing.origin, credential)).status, 401)

      for (const output of [served.stdout(), served.stderr()]) {
        assert.notInclude(output, credential)
        assert.notInclude(output, Crockford.format(credential))
      }
    }))

  it.live("--desktop-bootstrap-fd: a descriptor that is not open stops the server with a clear message", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory, "--desktop-bootstrap-fd", "99"])
      const exit = yield* exited(served)
      assert.strictEqual(exit.code, 1)
      assert.match(served.stderr(), /file descriptor 99: it is not open/)
      assert.notMatch(served.stdout(), /Pairing URL/)
    }))

  it.live("--desktop-bootstrap-fd: a credential that is not a code stops the server without echoing it", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory, "--desktop-bootstrap-fd", "3"], {
        fd3: true
      })
      ;(served.child.stdio[3] as NodeJS.WritableStream).end("not*a*code!secret\n")
      const exit = yield* exited(served)
      assert.strictEqual(exit.code, 1)
      assert.match(served.stderr(), /desktop bootstrap credential was refused/)
      assert.notInclude(served.stderr() + served.stdout(), "secret")
      assert.notMatch(served.stdout(), /listening/)
    }))

  it.live("a database that is down: one clear line naming it, no password, no stack trace, nothing served", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const served = yield* serve([
        "--port",
        "0",
        "--state-dir",
        yield* tempDirectory,
        "--database-url",
        `postgres://gatehouse:hunter2@127.0.0.1:${port}/gatehouse`
      ])
      const exit = yield* exited(served)
      assert.strictEqual(exit.code, 1)
      const output = served.stderr() + served.stdout()
      assert.include(output, `Cannot use the database 127.0.0.1:${port}/gatehouse: connect ECONNREFUSED`)
      assert.notInclude(output, "hunter2")
      assert.notMatch(output, /^\s+at /m, "no stack trace")
      assert.isBelow(output.trim().split("\n").length, 4, output)
      assert.notMatch(output, /Pairing URL/)
    }))

  it.live("a --database-url that is not a PostgreSQL URL is refused without echoing it", () =>
    Effect.gen(function*() {
      const served = yield* serve([
        "--port",
        "0",
        "--state-dir",
        yield* tempDirectory,
        "--database-url",
        "mysql://root:hunter2@db/x"
      ])
      assert.strictEqual((yield* exited(served)).code, 1)
      assert.match(served.stderr(), /--database-url must be a PostgreSQL URL/)
      assert.notInclude(served.stderr() + served.stdout(), "hunter2")
    }))

  it.live(
    "--hosted without the wrapping key, or the wrong one: one line naming the variable to set",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const hosted = yield* serve(["--port", "0", "--state-dir", stateDir, "--hosted"])
        assert.strictEqual((yield* exited(hosted)).code, 1)
        assert.include(hosted.stderr(), "Set GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY")
        assert.notMatch(hosted.stderr(), /^\s+at /m, "no stack trace")
        assert.isFalse(Fs.existsSync(Path.join(stateDir, "secrets", "keyring-wrapping-key.bin")), "nothing generated")
        // With the wrapping key but not the guest pepper: the same, naming the pepper's variable.
        const elsewhere = yield* tempDirectory
        const noPepper = yield* serve(["--port", "0", "--state-dir", elsewhere, "--hosted"], {
          env: { GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY: Buffer.alloc(32, 7).toString("base64url") }
        })
        assert.strictEqual((yield* exited(noPepper)).code, 1)
        assert.include(noPepper.stderr(), "GATEHOUSE_SECRET_GUEST_SESSION_PEPPER")
        assert.notMatch(noPepper.stderr(), /^\s+at /m, "no stack trace")
        assert.isFalse(Fs.existsSync(Path.join(elsewhere, "secrets", "guest-session-pepper.bin")), "nothing generated")

        // A state directory whose keys were wrapped with its own key, started with another one.
        const first = yield* serve(["--port", "0", "--state-dir", stateDir])
        yield* pairingUrl(first)
        first.child.kill("SIGTERM")
        assert.strictEqual((yield* exited(first)).code, 0)
        const other = yield* serve(["--port", "0", "--state-dir", stateDir], {
          env: { GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY: Buffer.alloc(32, 9).toString("base64url") }
        })
        assert.strictEqual((yield* exited(other)).code, 1)
        assert.include(other.stderr(), "needs the same GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY")
        assert.notMatch(other.stderr(), /^\s+at /m, "no stack trace")
      }),
    30_000
  )

  it.live("a port in use is a clear error", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const first = yield* serve(["--port", "0", "--state-dir", stateDir])
      const { port } = yield* pairingUrl(first)
      const second = yield* serve(["--port", String(port), "--state-dir", stateDir])
      assert.strictEqual((yield* exited(second)).code, 1)
      assert.match(second.stderr(), /the port is in use/)
    }))

  it.live("bad --allowed-origin and --trusted-proxy values are refused", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const origin = yield* serve([
        "--port",
        "0",
        "--state-dir",
        stateDir,
        "--allowed-origin",
        "https://app.example.com/path"
      ])
      assert.strictEqual((yield* exited(origin)).code, 1)
      assert.match(origin.stderr(), /--allowed-origin must be an origin/)
      const proxy = yield* serve(["--port", "0", "--state-dir", stateDir, "--trusted-proxy", "10.0.0.0/99"])
      assert.strictEqual((yield* exited(proxy)).code, 1)
      assert.match(proxy.stderr(), /--trusted-proxy must be/)
    }))

  it.live("--allowed-origin lets that origin make cookie requests; others are refused", () =>
    Effect.gen(function*() {
      const served = yield* serve([
        "--port",
        "0",
        "--state-dir",
        yield* tempDirectory,
        "--allowed-origin",
        "https://app.example.com"
      ])
      const pairing = yield* pairingUrl(served)
      const body = { credential: pairing.token }
      const refused = yield* request(`${pairing.origin}/api/auth/bootstrap`, {
        method: "POST",
        body,
        headers: { origin: "https://evil.example" }
      })
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(refused.json.error.code, "origin_not_allowed")
      const allowed = yield* request(`${pairing.origin}/api/auth/bootstrap`, {
        method: "POST",
        body,
        headers: { origin: "https://app.example.com" }
      })
      assert.strictEqual(allowed.status, 200)
    }))

  it.live("--policy unsafe-no-auth only when given: then every request is an administrator, with a warning", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const normal = yield* serve(["--port", "0", "--state-dir", stateDir])
      const guarded = yield* pairingUrl(normal)
      assert.strictEqual((yield* request(`${guarded.origin}/api/hello`)).status, 401)

      const unsafe = yield* serve(["--port", "0", "--state-dir", stateDir, "--policy", "unsafe-no-auth"])
      const open = yield* pairingUrl(unsafe)
      const hello = yield* request(`${open.origin}/api/hello`)
      assert.strictEqual(hello.status, 200)
      assert.match(unsafe.stdout() + unsafe.stderr(), /Authentication is OFF/)
    }))

  it.live.skipIf(process.platform !== "linux")(
    "opens a browser only with --open, with the same URL it printed",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDirectory
        const opened = Path.join(dir, "opened")
        // A stand-in xdg-open that records what it was asked to open.
        Fs.writeFileSync(Path.join(dir, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`, { mode: 0o700 })
        const env = { PATH: `${dir}:${process.env.PATH}` }

        const quiet = yield* serve(["--port", "0", "--state-dir", dir], { env })
        yield* pairingUrl(quiet)
        yield* Effect.sleep("300 millis")
        assert.isFalse(Fs.existsSync(opened))

        const loud = yield* serve(["--port", "0", "--state-dir", dir, "--open"], { env })
        const pairing = yield* pairingUrl(loud)
        yield* eventually(() => Fs.existsSync(opened), "the browser to be opened")
        yield* eventually(() => Fs.readFileSync(opened, "utf8").endsWith("\n"), "the opener to finish")
        assert.deepStrictEqual(Fs.readFileSync(opened, "utf8").trim().split("\n"), [pairing.url])
      })
  )

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it.live(`exits 0 on ${signal}, closing open connections`, () =>
      Effect.gen(function*() {
        const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory])
        const pairing = yield* pairingUrl(served)
        const { json } = yield* bearerBootstrap(pairing.origin, pairing.token)
        const ws = yield* openSocket(pairing.origin, json.accessToken)
        ws.socket.send("ping")
        yield* eventually(() => ws.echoes.includes("ping"), "the echo")

        served.child.kill(signal)
        const exit = yield* exited(served)
        assert.deepStrictEqual(exit, { code: 0, signal: null })
        const code = yield* Effect.promise(() => ws.closed).pipe(
          Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.die(new Error("socket still open")) })
        )
        // Closed by the server as it went away (not cut off at the end of the grace period).
        assert.strictEqual(code, 1001)
        // Nothing listens any more.
        const after = yield* Effect.exit(request(`${pairing.origin}/api/auth/session`))
        assert.isTrue(after._tag === "Failure")
      }))
  }

  it.live("exits 0 within its grace period when clients do not cooperate (a WebSocket that never answers the close, an idle keep-alive)", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory])
      const pairing = yield* pairingUrl(served)
      const { json } = yield* bearerBootstrap(pairing.origin, pairing.token)
      const ticket = yield* request(`${pairing.origin}/api/auth/ws-ticket`, {
        method: "POST",
        headers: { authorization: `Bearer ${json.accessToken}` },
        body: {}
      })
      const port = Number(new URL(pairing.origin).port)
      // Raw sockets, so nothing answers for the client: the upgraded one never replies to the close
      // frame (and never reads), the keep-alive one sits idle after its first response.
      const raw = (text: string, until: RegExp) =>
        Effect.acquireRelease(
          Effect.promise(() =>
            new Promise<Net.Socket>((resolve, reject) => {
              const socket = Net.connect(port, "127.0.0.1", () => socket.write(text))
              let seen = ""
              socket.on("data", (chunk) => {
                seen += chunk.toString("latin1")
                if (until.test(seen)) resolve(socket)
              })
              socket.once("error", reject)
              setTimeout(() => reject(new Error(`no ${until} within 10 s: ${seen}`)), 10_000).unref()
            })
          ),
          (socket) => Effect.sync(() => socket.destroy())
        )
      const upgraded = yield* raw(
        [
          `GET /ws?wsTicket=${ticket.json.ticket} HTTP/1.1`,
          `Host: ${new URL(pairing.origin).host}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version: 13",
          "",
          ""
        ].join("\r\n"),
        /^HTTP\/1\.1 101/
      )
      upgraded.pause()
      yield* raw(
        `GET /api/auth/session HTTP/1.1\r\nHost: ${new URL(pairing.origin).host}\r\nConnection: keep-alive\r\n\r\n`,
        /\r\n\r\n[\s\S]*\}/
      )

      const stoppedAt = Date.now()
      served.child.kill("SIGTERM")
      // The grace period is 3 seconds; well before 10 the process must be gone, and cleanly.
      const exit = yield* exited(served, "10 seconds")
      assert.deepStrictEqual(exit, { code: 0, signal: null })
      assert.isBelow(Date.now() - stoppedAt, 10_000)
    }).pipe(Effect.scoped))

  it.live("a request that arrives while the server starts is answered (503, Retry-After), never left hanging", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const served = yield* serve(["--port", String(port), "--state-dir", yield* tempDirectory])
      // One request at a time, each on a new connection, from the start: the first one that
      // connects lands between `listen` and the routes being attached (the stores open between).
      const answered: Array<number> = []
      // Bounded: at most 3000 attempts, each at most 3 seconds, 10 ms apart while the port is not
      // open yet (a refused connection returns at once; the server starts within a few seconds).
      for (let tries = 0; tries < 3000 && !/^Pairing URL: /m.test(served.stdout()); tries++) {
        const attempt = yield* Effect.exit(
          request(`http://127.0.0.1:${port}/api/auth/session`).pipe(
            Effect.timeoutOrElse({ duration: "3 seconds", orElse: () => Effect.die(new Error("no answer")) })
          )
        )
        if (attempt._tag === "Success") answered.push(attempt.value.status)
        else {
          assert.match(String(attempt.cause), /ECONNREFUSED/, "every request is answered or refused")
          yield* Effect.sleep("10 millis")
        }
        if (attempt._tag === "Success" && attempt.value.status === 503) {
          assert.strictEqual(attempt.value.headers["retry-after"], "1")
          assert.strictEqual(attempt.value.json.error.code, "service_unavailable")
        }
        if (served.child.exitCode !== null) break
      }
      assert.deepStrictEqual(answered.filter((status) => status !== 503 && status !== 200), [])
      assert.strictEqual((yield* request(`http://127.0.0.1:${port}/api/auth/session`)).status, 200)
    }))

  it.live("waits for the desktop credential, then serves; the pairing URL comes only after listening", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory, "--desktop-bootstrap-fd", "3"], {
        fd3: true
      })
      yield* Effect.sleep("500 millis")
      assert.notMatch(served.stdout(), /Pairing URL/)
      ;(served.child.stdio[3] as NodeJS.WritableStream).end(`${Crockford.generate()}\r\n`)
      yield* waitFor(served, /^Pairing URL: /m)
    }))
})
