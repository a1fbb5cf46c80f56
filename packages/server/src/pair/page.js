// The /pair page, built on @gatehouse-auth/client (served by this server at /pair/client.js: the
// client's source with its types stripped, or its built file when installed from npm). Plain
// browser JavaScript in a module script with the page's CSP nonce, which the import inherits: no
// build step. Everything the server sends is rendered with textContent, never as HTML.
import { createAuthClient, createGuestClient, GatehouseClientError } from "/pair/client.js"

const auth = createAuthClient()
const guest = createGuestClient()
const $ = (id) => document.getElementById(id)
const revokedCloseCode = 4401
let current = null // the session of this browser, or null
let socket = null
let socketAttempt = 0 // moves on every open and close: an opening that lost the race is dropped
let pollTimer = 0

// --- the routes the client does not cover (hello, sessions, pairing links) --------------------

// Fails with the client's error type, so every failure carries the server's code and message.
const api = async (method, path, body) => {
  const init = { method, credentials: "same-origin", cache: "no-store", headers: { accept: "application/json" } }
  if (body !== undefined) {
    init.headers["content-type"] = "application/json"
    init.body = JSON.stringify(body)
  }
  let response
  try {
    response = await fetch(path, init)
  } catch {
    throw new GatehouseClientError("network_error", "The server cannot be reached. Is it still running?", 0)
  }
  if (!response.ok) throw await GatehouseClientError.fromResponse(response)
  return response.status === 204 ? null : response.json()
}

// --- small view helpers -------------------------------------------------------------------

const setStatus = (text) => {
  $("status").textContent = text
  $("status").hidden = text === ""
}

const showError = (text) => {
  $("error").textContent = text
  $("error").hidden = text === ""
}

const when = (millis) => new Date(millis).toLocaleString()

const element = (tag, options = {}, children = []) => {
  const node = document.createElement(tag)
  if (options.className) node.className = options.className
  if (options.text !== undefined) node.textContent = options.text
  for (const [name, value] of Object.entries(options.attributes || {})) node.setAttribute(name, value)
  for (const child of children) node.append(child)
  return node
}

const hasScope = (session, scope) => session.scopes.includes("admin") || session.scopes.includes(scope)

const device = (session) => {
  const client = session.client || {}
  return [client.browser, client.os && "on " + client.os].filter(Boolean).join(" ")
}

const describe = (session) => (session.client && session.client.label) || device(session) || "Unknown device"

// A failure of an authenticated call: 401 means this browser is no longer paired.
const handleFailure = (error) => {
  if (error instanceof GatehouseClientError && error.status === 401) {
    showUnpaired("This browser's session has ended. Pair again to continue.")
  } else {
    showError(error.message)
  }
}

// --- pairing ------------------------------------------------------------------------------

// The cookie flow (POST /api/auth/bootstrap): retried by the client while the server is starting.
const pair = async (credential) => {
  setStatus("Pairing…")
  showError("")
  const result = await auth.submitPairingCredential(credential)
  if (!result.ok) {
    showError(result.message)
    // Refused before it was used (this page came over plain HTTP): keep the code at hand.
    if (result.code === "insecure_transport") $("code").value = credential
    return false
  }
  // The server promoted this browser's guest, if it had one, with the pairing.
  guest.clear()
  // The server answered, but only the browser knows whether it kept the cookie: ask.
  const state = await auth.resolveGateState({ refresh: true })
  if (state.status !== "authenticated") {
    showError(
      state.status === "unreachable"
        ? "Paired, but the server could not be reached to confirm it: " + state.error.message
        : "The server accepted the code, but this browser did not keep the session cookie, so it is not signed in. " +
          "Open this page over HTTPS (the URL gatehouse serve prints with --tls-self-signed) and pair with a new code."
    )
    return false
  }
  return true
}

$("pair-form").addEventListener("submit", async (event) => {
  event.preventDefault()
  const input = $("code")
  const code = input.value.trim()
  if (code === "") {
    showError("Type the pairing code first.")
    input.focus()
    return
  }
  $("pair-button").disabled = true
  const paired = await pair(code)
  $("pair-button").disabled = false
  if (paired) {
    input.value = ""
    await refresh()
  } else {
    setStatus("")
    input.focus()
  }
})

// --- the paired view ----------------------------------------------------------------------

const showUnpaired = (message) => {
  current = null
  closeSocket()
  clearInterval(pollTimer)
  for (const id of ["paired-view", "sessions-view", "links-view"]) $(id).hidden = true
  $("pair-view").hidden = false
  $("guest-line").hidden = false
  setStatus("")
  if (message) showError(message)
  // A guest this browser already is (never makes one; also migrates a legacy stored token once).
  guest.getExisting().then((existing) => {
    if (existing !== undefined && current === null) showGuest(existing)
  }, () => {})
}

const showPaired = (session) => {
  current = session
  setStatus("")
  $("pair-view").hidden = true
  $("guest-line").hidden = true
  $("guest-id").textContent = ""
  $("paired-view").hidden = false
  $("subject").textContent = session.subject
  $("scopes").textContent = session.scopes.join(", ")
  const canRead = hasScope(session, "read:access")
  $("sessions-view").hidden = !canRead
  $("links-view").hidden = !hasScope(session, "write:access")
  loadHello()
  openLive()
  if (canRead) {
    loadSessions()
    clearInterval(pollTimer)
    pollTimer = setInterval(loadSessions, 10_000)
  }
  if (hasScope(session, "write:access")) loadLinks()
}

const loadHello = async () => {
  if (!hasScope(current, "read:hello")) {
    $("hello").textContent = "no read:hello scope"
    return
  }
  try {
    const body = await api("GET", "/api/hello")
    $("hello").textContent = "hello, " + body.hello
  } catch (error) {
    $("hello").textContent = error.message
    if (error.status === 401) handleFailure(error)
  }
}

$("logout").addEventListener("click", async () => {
  try {
    await auth.logout()
    showUnpaired("")
    setStatus("Logged out. This browser is no longer paired.")
  } catch (error) {
    handleFailure(error)
  }
})

// --- the live connection ------------------------------------------------------------------

const setLive = (state, text) => {
  $("live").dataset.state = state
  $("live").textContent = text
}

const closeSocket = () => {
  socketAttempt++
  if (socket !== null) {
    const old = socket
    socket = null
    old.close(1000)
  }
}

// Through the client: a one-use ticket (POST /api/auth/ws-ticket), then the socket, open.
const openLive = async () => {
  closeSocket()
  if (!hasScope(current, "read:hello")) {
    setLive("idle", "no read:hello scope")
    return
  }
  const attempt = socketAttempt
  setLive("connecting", "connecting…")
  let ws
  try {
    ws = await auth.openSocket("/ws")
  } catch (error) {
    if (attempt !== socketAttempt) return
    setLive("closed", "not connected: " + error.message)
    if (error.status === 401) handleFailure(error)
    return
  }
  if (attempt !== socketAttempt) {
    ws.close(1000)
    return
  }
  socket = ws
  ws.addEventListener("message", (event) => {
    if (socket === ws) setLive("open", "connected (echo: " + String(event.data).slice(0, 40) + ")")
  })
  ws.addEventListener("close", (event) => {
    $("live").dataset.closeCode = String(event.code)
    if (socket !== ws) return
    socket = null
    if (event.code === revokedCloseCode) {
      setLive("revoked", "closed: session revoked (" + event.code + ")")
      showUnpaired("This browser's session was revoked. Pair again to continue.")
    } else {
      setLive("closed", "closed (" + event.code + ")")
    }
  })
  ws.send("ping")
}

// --- sessions -----------------------------------------------------------------------------

const loadSessions = async () => {
  if (current === null) return
  try {
    const body = await api("GET", "/api/auth/sessions")
    renderSessions(body.sessions)
  } catch (error) {
    handleFailure(error)
  }
}

const renderSessions = (sessions) => {
  const list = $("sessions")
  list.replaceChildren()
  const canWrite = hasScope(current, "write:access")
  sessions.sort((a, b) => (b.current ? 1 : 0) - (a.current ? 1 : 0) || b.createdAt - a.createdAt)
  for (const session of sessions) {
    const name = element("strong", { text: describe(session) })
    const title = element("div", {}, [name])
    if (session.current) title.append(element("span", { className: "badge current", text: "this browser" }))
    if (session.connected) title.append(element("span", { className: "badge live", text: "connected" }))
    const meta = element("div", {
      className: "meta",
      text: [
        session.client && session.client.label ? device(session) : "",
        session.method,
        session.scopes.join(", "),
        "paired " + when(session.createdAt),
        "last seen " + when(session.lastSeenAt)
      ].filter(Boolean).join(" · ")
    })
    const item = element("li", {
      attributes: { "data-session-id": session.id, "data-current": String(!!session.current) }
    }, [
      element("div", {}, [title, meta])
    ])
    if (canWrite && !session.current) {
      const revoke = element("button", {
        className: "danger small",
        text: "Revoke",
        attributes: { type: "button", "aria-label": "Revoke " + describe(session) }
      })
      revoke.addEventListener("click", () => revokeSession(session.id, revoke))
      item.append(revoke)
    }
    list.append(item)
  }
  if (sessions.length === 0) list.append(element("li", { className: "empty", text: "No sessions." }))
}

const revokeSession = async (id, button) => {
  button.disabled = true
  showError("")
  try {
    await api("DELETE", "/api/auth/sessions/" + encodeURIComponent(id))
    setStatus("Session revoked.")
  } catch (error) {
    handleFailure(error)
  }
  await loadSessions()
}

$("refresh").addEventListener("click", () => {
  loadSessions()
  if (hasScope(current, "write:access")) loadLinks()
})

// --- pairing links ------------------------------------------------------------------------

$("link-form").addEventListener("submit", async (event) => {
  event.preventDefault()
  showError("")
  const label = $("link-label").value.trim()
  const body = { ttlSeconds: Number($("link-ttl").value) }
  if (label !== "") body.label = label
  $("create-link").disabled = true
  try {
    const link = await api("POST", "/api/auth/pairing-links", body)
    $("link-code").textContent = link.credential
    $("link-url").value = link.url
    $("link-expires").textContent = when(link.expiresAt)
    $("link-result").hidden = false
    $("link-label").value = ""
    await loadLinks()
  } catch (error) {
    handleFailure(error)
  } finally {
    $("create-link").disabled = false
  }
})

$("copy-link").addEventListener("click", async () => {
  const input = $("link-url")
  try {
    await navigator.clipboard.writeText(input.value)
    setStatus("Link copied.")
  } catch {
    input.select()
    setStatus("Select the link and copy it.")
  }
})

const loadLinks = async () => {
  try {
    // The list comes a page at a time; follow the cursors (at most 20 pages: 2 000 links).
    const links = []
    let cursor
    for (let page = 0; page < 20; page++) {
      const query = "?limit=100" + (cursor === undefined ? "" : "&cursor=" + encodeURIComponent(cursor))
      const body = await api("GET", "/api/auth/pairing-links" + query)
      links.push(...body.links)
      cursor = body.nextCursor
      if (cursor === undefined) break
    }
    const list = $("links")
    list.replaceChildren()
    for (const link of links) {
      const name = link.label || (link.kind === "desktop" ? "desktop bootstrap" : "pairing link")
      const meta = link.expiresAt === null ? "not started yet" : "until " + when(link.expiresAt)
      const revoke = element("button", {
        className: "danger small",
        text: "Revoke",
        attributes: { type: "button", "aria-label": "Revoke pairing link " + name }
      })
      revoke.addEventListener("click", async () => {
        revoke.disabled = true
        try {
          await api("DELETE", "/api/auth/pairing-links/" + encodeURIComponent(link.id))
        } catch (error) {
          handleFailure(error)
        }
        await loadLinks()
      })
      list.append(element("li", { attributes: { "data-link-id": link.id } }, [
        element("div", {}, [element("strong", { text: name }), element("div", { className: "meta", text: meta })]),
        revoke
      ]))
    }
    if (links.length === 0) list.append(element("li", { className: "empty", text: "None open." }))
  } catch (error) {
    handleFailure(error)
  }
}

// --- the gate ---------------------------------------------------------------------------

const refresh = async () => {
  const state = await auth.resolveGateState()
  if (state.status === "authenticated") showPaired(state.session)
  else if (state.status === "requires-pairing" && state.problem === "ambiguous_cookie") {
    // Another page on this machine (any other local port) set a second session cookie for
    // this server. Neither is used and this answer cleared both: pairing again fixes it.
    showUnpaired(
      "Another page on this computer interfered with this browser's sign-in (it set a second session cookie), so you were signed out. Pair again to continue."
    )
  } else if (state.status === "requires-pairing") showUnpaired("")
  else {
    showUnpaired("")
    showError(state.error.message)
  }
}

// --- guest --------------------------------------------------------------------------------

const showGuest = (session) => {
  $("guest-id").textContent = "Continuing as guest " + session.guestId
}

$("guest-button").addEventListener("click", async () => {
  $("guest-button").disabled = true
  showError("")
  try {
    showGuest(await guest.getToken())
  } catch (error) {
    showError(error.message)
  } finally {
    $("guest-button").disabled = false
  }
})

// --- start --------------------------------------------------------------------------------

// The code is read from #token= (then ?token=) and removed from the address bar before the
// exchange, so it is not left in history, bookmarks or a screenshot.
const takeToken = () => {
  const token = auth.readPairingTokenFromUrl()
  auth.stripPairingTokenFromUrl()
  return token
}

// The certificate's fingerprint, when the server serves HTTPS itself: compare it with the printed one.
$("tls-fingerprint").hidden = $("tls-fingerprint-value").textContent === ""

const start = async () => {
  const token = takeToken()
  if (token !== undefined) await pair(token)
  await refresh()
}

// A pairing link pasted into this tab changes only the hash: no reload, so listen for it.
window.addEventListener("hashchange", async () => {
  const token = takeToken()
  if (token !== undefined && (await pair(token))) await refresh()
  else setStatus("")
})

start()
