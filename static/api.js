// api.js: calls to sockplay's JSON API and the error text of its answers.
// No DOM: the node tests import it.

// answerData reads an answer's body: JSON, nothing (null), or, when the body
// is not JSON (a proxy's error page), the text as the error.
export function answerData(text) {
  try { return text ? JSON.parse(text) : null; } catch { return { error: text }; }
}

// errorText is the message of a failed answer: the API's error and, on a
// second line, its hint; without an error, the HTTP status.
export function errorText(status, statusText, data) {
  let msg = (data && data.error) || `${status} ${statusText}`;
  if (data && data.hint) msg += `\n${data.hint}`;
  return msg;
}

// call sends payload (as JSON, when given) and returns the answer's data,
// or throws an Error whose message is errorText.
export async function call(method, url, payload) {
  const opts = { method, headers: {} };
  if (payload !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(payload);
  }
  const res = await fetch(url, opts);
  const text = await res.text();
  const data = answerData(text);
  if (!res.ok) throw new Error(errorText(res.status, res.statusText, data));
  return data;
}

// sessionAPI is the API path of a session.
export const sessionAPI = (sessionID) => `/api/sessions/${sessionID}`;
