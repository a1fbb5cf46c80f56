/**
 * What counts as an origin, for every URL the server or the CLI takes from outside: `--url`,
 * `--public-url`, `--allowed-origin`, and the `baseUrl` read back from `server.json` (a file a
 * pairing URL is built from, so a forged one must not put a path or a `javascript:` URL in it).
 */

/** An origin is exactly `scheme://host[:port]`: no path, query, fragment or credentials. */
export const isOrigin = (value: string): boolean => {
  try {
    const url = new URL(value)
    return (url.protocol === "http:" || url.protocol === "https:") &&
      url.origin === value.replace(/\/$/, "").toLowerCase()
  } catch {
    return false
  }
}
