// The /pair page. Plain browser JavaScript, inlined into the page with a CSP nonce: no build step.
// Everything the server sends is rendered with textContent, never as HTML.
"use strict"
;(() => {
  const $ = (id) => document.getElementById(id)
  const revokedCloseCode = 4401
  let current = null // the session of this browser, or null
  let socket = null
  let pollTimer = 0

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message)
      this.status = status
      this.code = code
    }
  }

  // --- the token in the address bar ---------------------------------------------------------

  // Reads `#token=` (then `?token=`) and removes it from the address bar at once, so it is not
  // left in history, bookmarks or a screenshot.
  const takeTokenFromUrl = () => {
    const hash = new URLSearchParams(location.hash.replace(/^#/, ""))
    const query = new URLSearchParams(location.search)
    const token = hash.get("token") || query.get("token")
    if (hash.has("token") || query.has("token")) {
      hash.delete("token")
      query.delete("token")
      const search = query.toString()
      const fragment = hash.toString()
      history.replaceState(
        null,
        "",
        location.pathname + (search ? "?" + search : "") + (fragment ? "#" + fragment : "")
      )
    }
    return token ? token.trim() : ""
  }

  // --- talking to the server ----------------------------------------------------------------

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
      throw new ApiError(0, "network_error", "The server cannot be reached. Is it still running?")
    }
    let data = null
    if (response.status !== 204) {
      try {
        data = await response.json()
      } catch {
        data = null
      }
    }
    if (!response.ok) {
      const error = data && data.error && typeof data.error.message === "string" ? data.error : null
      throw new ApiError(
        response.status,
        error && typeof error.code === "string" ? error.code : "http_" + response.status,
        error ? error.message : "The server answered with status " + response.status + "."
      )
    }
    return data
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
    if (error instanceof ApiError && error.status === 401) {
      showUnpaired("This browser's session has ended. Pair again to continue.")
    } else {
      showError(error.message)
    }
  }

  // --- pairing ------------------------------------------------------------------------------

  const pair = async (credential) => {
    setStatus("Pairing…")
    showError("")
    try {
      await api("POST", "/api/auth/bootstrap", { credential })
      return true
    } catch (error) {
      showError(error.message)
      return false
    }
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
    setStatus("")
    if (message) showError(message)
  }

  const showPaired = (session) => {
    current = session
    setStatus("")
    $("pair-view").hidden = true
    $("paired-view").hidden = false
    $("subject").textContent = session.subject
    $("scopes").textContent = session.scopes.join(", ")
    const canRead = hasScope(session, "read:access")
    $("sessions-view").hidden = !canRead
    $("links-view").hidden = !hasScope(session, "write:access")
    loadHello()
    openSocket()
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
      await api("POST", "/api/auth/logout", {})
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
    if (socket !== null) {
      const old = socket
      socket = null
      old.close(1000)
    }
  }

  const openSocket = () => {
    closeSocket()
    if (!hasScope(current, "read:hello")) {
      setLive("idle", "no read:hello scope")
      return
    }
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws")
    socket = ws
    setLive("connecting", "connecting…")
    ws.addEventListener("open", () => ws.send("ping"))
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
      if (body.links.length === 0) list.append(element("li", { className: "empty", text: "None open." }))
    } catch (error) {
      handleFailure(error)
    }
  }

  // --- start --------------------------------------------------------------------------------

  const refresh = async () => {
    try {
      const state = await api("GET", "/api/auth/session")
      if (state.authenticated) showPaired(state.session)
      else if (state.problem === "ambiguous_cookie") {
        // Another page on this machine (any other local port) set a second session cookie for
        // this server. Neither is used and this answer cleared both: pairing again fixes it.
        showUnpaired(
          "Another page on this computer interfered with this browser's sign-in (it set a second session cookie), so you were signed out. Pair again to continue."
        )
      } else showUnpaired("")
    } catch (error) {
      showUnpaired("")
      showError(error.message)
    }
  }

  const start = async () => {
    const token = takeTokenFromUrl()
    if (token !== "") await pair(token)
    await refresh()
  }

  // A pairing link pasted into this tab changes only the hash: no reload, so listen for it.
  window.addEventListener("hashchange", async () => {
    const token = takeTokenFromUrl()
    if (token !== "" && (await pair(token))) await refresh()
    else setStatus("")
  })

  start()
})()
