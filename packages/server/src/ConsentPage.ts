/**
 * The reference server's OAuth consent page (and the error page of the authorization endpoint):
 * plain HTML with one inline style block (its nonce is the response's), no script. The library
 * (`OAuthRoutes`) decides what the page shows and handles the form; this module only renders it.
 *
 * Everything the client says about itself is its own claim and is shown as such: the name in
 * quotes with "calls itself", beside the facts the server checked (the host of the redirect URI,
 * with a warning when it is this machine or a private address; for a metadata-document client the
 * host of its `client_id`). Every text is HTML-escaped.
 */
import { OAuthRedirectUri } from "@gatehouse-auth/core"
import type { OAuthRoutes } from "@gatehouse-auth/http"

const escape = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (char) =>
      char === "&" ? "&amp;" : char === "<" ? "&lt;" : char === ">" ? "&gt;" : char === "\"" ? "&quot;" : "&#39;"
  )

const style = `
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b; }
  h1 { font-size: 1.4rem; }
  .claim { font-weight: 600; }
  .fact { font-family: ui-monospace, monospace; background: #f1f1f1; padding: 0 .25rem; }
  .warning { background: #fff4d6; border-left: 4px solid #d9a300; padding: .5rem .75rem; }
  .problem { background: #fde2e2; border-left: 4px solid #c62828; padding: .5rem .75rem; }
  ul.scopes li { font-family: ui-monospace, monospace; }
  form { margin-top: 1.5rem; }
  button { font: inherit; padding: .4rem 1.2rem; margin-right: .5rem; }
`

const page = (nonce: string, title: string, body: string) =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${escape(title)}</title>
<style nonce="${escape(nonce)}">${style}</style>
</head>
<body>
${body}
</body>
</html>
`

const hidden = (fields: ReadonlyArray<readonly [string, string]>) =>
  fields.map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`).join("\n")

export const consent = (view: OAuthRoutes.ConsentView): string => {
  const client = view.request.client
  const name = client.clientName
  const redirectHost = view.consent?.redirectHost ?? OAuthRedirectUri.hostOf(view.request.redirectUri)
  const facts = [
    name === undefined
      ? `<p>An application that gives no name asks to use this server's MCP endpoint.</p>`
      : `<p>An application that calls itself <span class="claim" id="client-name">“${
        escape(name)
      }”</span> (its own claim, not checked) asks to use this server's MCP endpoint.</p>`,
    view.consent?.clientIdHost === undefined
      ? ""
      : `<p>Its identity is published at <span class="fact" id="client-id-host">${
        escape(view.consent.clientIdHost)
      }</span>.</p>`,
    `<p>After you answer, your browser is sent to <span class="fact" id="redirect-host">${
      escape(redirectHost)
    }</span>.</p>`,
    view.consent?.redirectIsLocal === true
      ? `<p class="warning" id="local-warning">That address is on this machine or a private network: approve only if you started this application yourself just now.</p>`
      : ""
  ]
  const problem = view.problem === undefined ? "" : `<p class="problem" id="problem">${escape(view.problem)}</p>`
  if (view.consent === undefined) {
    return page(
      view.nonce,
      "Sign in to approve",
      `<h1>Approve an application</h1>
${facts.join("\n")}
${problem}
<p>This browser is not paired with the server. Enter a pairing code (from <span class="fact">gatehouse pair</span> or a paired device) to continue.</p>
<form method="post" action="/oauth/authorize">
${hidden(view.fields)}
<input type="hidden" name="action" value="pair">
<label>Pairing code <input name="pairing_code" autocomplete="one-time-code" required maxlength="64"></label>
<button type="submit">Continue</button>
</form>`
    )
  }
  const data = view.consent
  const scopes = data.scopes.map((scope) => `<li>${escape(scope)}</li>`).join("")
  const blocked = !data.canApprove
    ? `<p class="problem" id="cannot-approve">This session does not hold write:access, so it cannot approve applications.</p>`
    : data.scopesNotHeld.length > 0
    ? `<p class="problem" id="scopes-not-held">This session does not hold ${
      escape(data.scopesNotHeld.join(" "))
    }, which the application asks for.</p>`
    : ""
  return page(
    view.nonce,
    "Approve an application",
    `<h1>Approve an application</h1>
${facts.join("\n")}
<p>It would get these scopes, for as long as you do not revoke it (it shows in your session list):</p>
<ul class="scopes" id="scopes">${scopes}</ul>
${problem}${blocked}
<form method="post" action="/oauth/authorize">
${hidden(view.fields)}
<input type="hidden" name="csrf_token" value="${escape(data.csrfToken)}">
<button type="submit" name="action" value="approve" id="approve">Approve</button>
<button type="submit" name="action" value="deny" id="deny">Deny</button>
</form>`
  )
}

export const error = (view: OAuthRoutes.ErrorView): string =>
  page(
    view.nonce,
    "Authorization error",
    `<h1>This authorization request cannot go on</h1>
<p id="error"><span class="fact">${escape(view.error)}</span>: ${escape(view.description)}</p>
<p>Nothing was approved. You can close this page.</p>`
  )

export const pages: OAuthRoutes.OAuthPages = { consent, error }
