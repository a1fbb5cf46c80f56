/**
 * Access tokens (JWTs) against their floors, in one run:
 * - `AccessTokens.verify (first sight)`: over 20 000 distinct EdDSA tokens (more than the cache
 *   holds), so every call checks the signature, against `jose.jwtVerify` of the same tokens with the
 *   same public key and the same checks (algorithms, typ, iss, aud). Target >= 0.9x.
 * - `AccessTokens.verify (repeat)`: one token again and again (the verified-token cache answers;
 *   the session is still read), against raw node:crypto HMAC-SHA256 + timingSafeEqual over the
 *   token's signing input. Target >= 0.5x.
 * - over loopback, in a fresh child process (see bench/authenticatedRoute.ts for why): the same
 *   handler behind `requireScopes(["read:hello"])` with `Authorization: Bearer <jwt>`, against
 *   the handler unauthenticated. Target >= 0.9x.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import * as Jose from "jose"
import { fork } from "node:child_process"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import * as AccessTokens from "../packages/core/src/AccessTokens.ts"
import * as BootstrapCredentialService from "../packages/core/src/BootstrapCredentialService.ts"
import * as ServerAuth from "../packages/core/src/ServerAuth.ts"
import * as ServerAuthPolicy from "../packages/core/src/ServerAuthPolicy.ts"
import * as ServerSecretStore from "../packages/core/src/ServerSecretStore.ts"
import * as Sessions from "../packages/core/src/SessionCredentialService.ts"
import * as SessionStore from "../packages/core/src/SessionStore.ts"
import * as SigningKeyring from "../packages/core/src/SigningKeyring.ts"
import { HttpAuth, HttpAuthLayer } from "../packages/http/src/index.ts"
import { compare, ratio, report } from "./harness.ts"
import type { Done, Job } from "./loadWorker.ts"

const issuer = "http://127.0.0.1:3773"
const applicationScopes = ["read:hello", "write:hello"]

const core = (issuer: string) =>
  AccessTokens.layer({ issuer }).pipe(
    Layer.provideMerge(BootstrapCredentialService.layerMemory),
    Layer.provideMerge(Sessions.layer()),
    Layer.provideMerge(SigningKeyring.layer()),
    Layer.provideMerge(SessionStore.layerMemory),
    Layer.provideMerge(ServerSecretStore.layerMemory())
  )

const verifyBench = async () => {
  const context = await Effect.runPromise(Layer.build(core(issuer)).pipe(Effect.scoped))
  const sessions = Context.get(context, Sessions.SessionCredentialService)
  const tokens = Context.get(context, AccessTokens.AccessTokens)
  const keyring = Context.get(context, SigningKeyring.SigningKeyring)
  const { session } = await Effect.runPromise(
    sessions.issue({ subject: "owner", scopes: applicationScopes, method: "pairing" })
  )
  const mint = () => Effect.runPromise(tokens.mint({ session, scopes: ["read:hello"], expiresIn: "1 hour" }))
  const one = (await mint()).token
  // Seen once (a signature check, asynchronous), so that the repeat loop meets the cache.
  await Effect.runPromise(tokens.verify(one))
  const distinct: Array<Redacted.Redacted<string>> = []
  for (let i = 0; i < 20_000; i++) distinct.push((await mint()).token)
  const texts = distinct.map(Redacted.value)
  const current = await Effect.runPromise(keyring.current)
  const publicKey = AccessTokens.deriveKey("EdDSA", current.kid, Redacted.value(current.key)).verifying
  const joseOptions = { algorithms: ["EdDSA"], typ: "at+jwt", issuer, audience: issuer }

  const oneText = Redacted.value(one)
  const signingInput = oneText.slice(0, oneText.lastIndexOf("."))
  const rawKey = Crypto.randomBytes(32)
  const rawSignature = Crypto.createHmac("sha256", rawKey).update(signingInput).digest()

  let next = 0
  let nextJose = 0
  const repeat = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* tokens.verify(one)
    })
  const firstSight = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* tokens.verify(distinct[next++ % distinct.length]!)
    })

  const results = await compare([
    { name: "AccessTokens.verify (first sight)", run: (n) => Effect.runPromise(firstSight(n)) },
    {
      name: "jose.jwtVerify (same key)",
      run: async (n) => {
        for (let i = 0; i < n; i++) await Jose.jwtVerify(texts[nextJose++ % texts.length]!, publicKey, joseOptions)
      }
    },
    { name: "AccessTokens.verify (repeat)", run: (n) => Effect.runSync(repeat(n)) },
    {
      name: "raw HMAC",
      run: (n) => {
        for (let i = 0; i < n; i++) {
          const expected = Crypto.createHmac("sha256", rawKey).update(signingInput).digest()
          if (!Crypto.timingSafeEqual(expected, rawSignature)) throw new Error("bad signature")
        }
      }
    }
  ])
  return {
    results,
    ratios: [
      ratio(
        results,
        "first sight / jose.jwtVerify",
        "AccessTokens.verify (first sight)",
        "jose.jwtVerify (same key)",
        0.9
      ),
      ratio(results, "repeat / raw HMAC", "AccessTokens.verify (repeat)", "raw HMAC", 0.5)
    ],
    tokenLength: oneText.length
  }
}

const hello = HttpServerResponse.jsonUnsafe({ hello: "owner" })

const BenchRoutes = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  yield* router.add("GET", "/bench/open", Effect.succeed(hello))
  yield* router.add("GET", "/bench/hello", auth.requireScopes(["read:hello"])(Effect.succeed(hello)))
}))

const serverLayer = () => {
  const listener = NodeHttpServer.layer(() => Http.createServer(), { host: "127.0.0.1", port: 0 })
  const port = Effect.map(
    Effect.service(HttpServer.HttpServer),
    (server) => server.address._tag === "UnixPathAddress" ? 0 : server.address.port
  )
  const policy = Layer.unwrap(Effect.map(port, (port) => ServerAuthPolicy.layer({ host: "127.0.0.1", port })))
  const tokens = Layer.unwrap(Effect.map(port, (port) => core(`http://127.0.0.1:${port}`)))
  return BenchRoutes.pipe(
    HttpAuthLayer.layer({ applicationScopes, disableListenLog: true }),
    Layer.provideMerge(ServerAuth.layer({ applicationScopes })),
    Layer.provideMerge(tokens),
    Layer.provideMerge(policy),
    Layer.provideMerge(listener)
  )
}

const routeBench = async () => {
  const scope = Effect.runSync(Scope.make())
  const worker = fork(new URL("./loadWorker.ts", import.meta.url), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  try {
    const context = await Effect.runPromise(Layer.buildWithScope(serverLayer(), scope))
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "UnixPathAddress" ? 0 : address.port
    const sessions = Context.get(context, Sessions.SessionCredentialService)
    const tokens = Context.get(context, AccessTokens.AccessTokens)
    const { session, token: sessionToken } = await Effect.runPromise(
      sessions.issue({ subject: "owner", scopes: applicationScopes, method: "pairing" })
    )
    const jwt = Redacted.value(
      (await Effect.runPromise(tokens.mint({ session, scopes: ["read:hello"], expiresIn: "1 hour" }))).token
    )
    let nextId = 0
    const pending = new Map<number, (done: Done) => void>()
    worker.on("message", (done: Done) => pending.get(done.id)?.(done))
    const host = `127.0.0.1:${port}`
    const load = (path: string, headers: Record<string, string>) => async (requests: number) => {
      const job: Job = {
        id: nextId++,
        url: `http://${host}${path}`,
        headers: { host, ...headers },
        requests,
        concurrency: 16
      }
      const done = await new Promise<Done>((resolve) => {
        pending.set(job.id, resolve)
        worker.send(job)
      })
      pending.delete(job.id)
      if (done.failures > 0) throw new Error(`${path}: ${done.failures} of ${requests} failed (${done.firstFailure})`)
    }
    const withJwt = load("/bench/hello", { authorization: `Bearer ${jwt}` })
    const withSession = load("/bench/hello", { authorization: `Bearer ${Redacted.value(sessionToken)}` })
    const open = load("/bench/open", {})
    await withJwt(20_000)
    await withSession(20_000)
    await open(20_000)
    const results = await compare([
      { name: "GET with a JWT", run: withJwt },
      { name: "GET with a session bearer token", run: withSession },
      { name: "GET unauthenticated", run: open }
    ], { rounds: 9, roundMillis: 1000, collectGarbage: false })
    return {
      results,
      ratios: [
        ratio(results, "JWT / unauthenticated", "GET with a JWT", "GET unauthenticated", 0.9),
        ratio(
          results,
          "session bearer / unauthenticated (informational)",
          "GET with a session bearer token",
          "GET unauthenticated",
          0
        )
      ]
    }
  } finally {
    worker.disconnect()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const childFlag = "GATEHOUSE_BENCH_ACCESS_TOKEN"

export const run = () =>
  new Promise<void>((resolve, reject) => {
    const child = fork(new URL(import.meta.url), [], { env: { ...process.env, [childFlag]: "1" }, stdio: "inherit" })
    child.once("error", reject)
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`accessToken exited with ${code}`))))
  })

if (process.env[childFlag] === "1") {
  // The server first, in a fresh process; then the tight loops.
  const route = await routeBench()
  const verify = await verifyBench()
  report("accessToken", [...verify.results, ...route.results], [...verify.ratios, ...route.ratios], {
    tokenLength: verify.tokenLength,
    algorithm: "EdDSA",
    unit: "operations (verify) and requests (route) per second"
  })
  process.exit(0)
}
