/**
 * How a server is reached decides how it authenticates. Four policies:
 *
 * - `desktop-managed-local`: loopback, launched by a desktop shell that holds a bootstrap credential;
 * - `loopback-browser`: loopback, reached by browsers on the same machine (pair with a code);
 * - `remote-reachable`: bound beyond loopback; cookies are always `Secure`;
 * - `unsafe-no-auth`: everything is allowed. Only when configured explicitly, with a warning.
 *
 * The session cookie is per port on loopback (`gatehouse_session_<port>`: browsers do not isolate
 * cookies by port) and `__Host-gatehouse_session` over HTTPS. It is always `HttpOnly`,
 * `SameSite=Lax`, `Path=/`, with no `Domain`; `Secure` whenever the request is HTTPS or the policy
 * is `remote-reachable`.
 */
import { Config, Context, Effect, Layer, Schema } from "effect"

export const Policy = Schema.Literals([
  "desktop-managed-local",
  "loopback-browser",
  "remote-reachable",
  "unsafe-no-auth"
])
export type Policy = typeof Policy.Type

export type Mode = "desktop" | "server"

export interface Descriptor {
  readonly policy: Policy
  readonly bootstrapMethods: ReadonlyArray<"pairing-code" | "desktop-bootstrap">
  readonly sessionMethods: ReadonlyArray<"cookie" | "bearer">
  readonly sessionCookieName: string
}

export interface CookieAttributes {
  readonly name: string
  readonly secure: boolean
  readonly httpOnly: true
  readonly sameSite: "lax"
  readonly path: "/"
}

const loopbackNames = new Set(["localhost", "::1", "[::1]"])

/** `localhost`, `127.0.0.0/8` or `::1` (bracketed or not). */
export const isLoopbackHost = (host: string): boolean =>
  loopbackNames.has(host.toLowerCase()) || /^127(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(host)

/** The configured policy wins; otherwise loopback binds are local policies and anything else is remote. */
export const derive = (
  options: { readonly host: string; readonly mode?: Mode | undefined; readonly configured?: Policy | undefined }
): Policy =>
  options.configured ??
    (isLoopbackHost(options.host)
      ? (options.mode === "desktop" ? "desktop-managed-local" : "loopback-browser")
      : "remote-reachable")

export const cookieName = (prefix: string, options: { readonly port: number; readonly https: boolean }): string =>
  options.https ? `__Host-${prefix}` : `${prefix}_${options.port}`

export interface ServerAuthPolicyShape {
  readonly policy: Policy
  readonly host: string
  readonly port: number
  /**
   * Loopback policies, and `unsafe-no-auth` on a loopback bind, refuse requests whose Host header
   * names anything but a loopback host (the DNS-rebinding guard).
   */
  readonly isLoopback: boolean
  readonly sessionCookie: (https: boolean) => CookieAttributes
  /** A companion cookie (the guest cookie) with the same attributes and naming rule. */
  readonly cookie: (prefix: string, https: boolean) => CookieAttributes
  readonly descriptor: (https: boolean) => Descriptor
}

export class ServerAuthPolicy extends Context.Service<ServerAuthPolicy, ServerAuthPolicyShape>()(
  "@gatehouse-auth/core/ServerAuthPolicy"
) {}

export interface Options {
  readonly host: string
  readonly port: number
  readonly mode?: Mode | undefined
  readonly policy?: Policy | undefined
}

export const make = (options: Options): ServerAuthPolicyShape => {
  const policy = derive({ host: options.host, mode: options.mode, configured: options.policy })
  const cookie = (prefix: string, https: boolean): CookieAttributes => ({
    name: cookieName(prefix, { port: options.port, https }),
    secure: https || policy === "remote-reachable",
    httpOnly: true,
    sameSite: "lax",
    path: "/"
  })
  return {
    policy,
    host: options.host,
    port: options.port,
    isLoopback: policy === "desktop-managed-local" || policy === "loopback-browser" ||
      (policy === "unsafe-no-auth" && isLoopbackHost(options.host)),
    cookie,
    sessionCookie: (https) => cookie("gatehouse_session", https),
    descriptor: (https) => ({
      policy,
      bootstrapMethods: policy === "desktop-managed-local" ? ["desktop-bootstrap", "pairing-code"] : ["pairing-code"],
      sessionMethods: ["cookie", "bearer"],
      sessionCookieName: cookieName("gatehouse_session", { port: options.port, https })
    })
  }
}

export const layer = (options: Options) =>
  Layer.effect(
    ServerAuthPolicy,
    Effect.gen(function*() {
      const service = make(options)
      if (service.policy === "unsafe-no-auth") {
        yield* Effect.logWarning(
          "Authentication is OFF (policy unsafe-no-auth): every request is treated as an administrator."
        )
      }
      return ServerAuthPolicy.of(service)
    })
  )

/** `layer` with the policy read from `GATEHOUSE_AUTH_POLICY` when set. */
export const layerConfig = (options: Omit<Options, "policy">) =>
  Layer.unwrap(Effect.map(
    Config.option(Config.schema(Policy, "GATEHOUSE_AUTH_POLICY")),
    (policy) => layer({ ...options, policy: policy._tag === "Some" ? policy.value : undefined })
  ))
