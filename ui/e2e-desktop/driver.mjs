// The WebDriver side of the desktop tests: tauri-driver (with Debian's WebKitWebDriver behind it)
// under Xvfb, and a few W3C WebDriver calls over `fetch`, so no WebDriver client package is needed.
import { spawn } from "node:child_process";
import { chmodSync, closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { screenshots } from "../e2e/harness.mjs";

/** Polls `check` until it returns something truthy, failing with `what` (and the last error) past `ms`. */
export async function until(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: ${last ?? ""}`);
}

/** A handle for the harness's `stop` over a process started `detached`: stopping it signals its
 * whole process group (Xvfb, the bus, tauri-driver and WebKitWebDriver with it). */
function groupHandle(driver) {
  const handle = {
    child: {
      exitCode: null,
      once: (_event, done) => driver.once("exit", done),
      kill: (signal) => {
        try {
          process.kill(-driver.pid, signal);
        } catch {
          driver.kill(signal);
        }
      },
    },
  };
  driver.once("exit", () => (handle.child.exitCode = driver.exitCode ?? 0));
  return handle;
}

/**
 * Starts tauri-driver under `xvfb-run` with `env` (the app it launches inherits it) and waits until it
 * answers. Returns the WebDriver base address and a handle for the harness's `stop`. The driver runs
 * in its own process group, so stopping it stops Xvfb, tauri-driver and WebKitWebDriver together.
 * `port` (and the WebKitWebDriver port after it) lets two test files run side by side.
 */
export async function startDriver(env, port = 4444) {
  const args = ["-a", "-s", "-screen 0 1280x800x24", "tauri-driver"];
  if (port !== 4444) args.push("--port", String(port), "--native-port", String(port + 1));
  const driver = spawn("xvfb-run", args, { env, stdio: "ignore", detached: true });
  const handle = groupHandle(driver);
  const base = `http://127.0.0.1:${port}`;
  try {
    await until("tauri-driver", () => fetch(`${base}/status`).then((r) => r.ok));
  } catch (e) {
    handle.child.kill("SIGTERM");
    throw e;
  }
  return { base, handle };
}

/** One W3C WebDriver call; a non-2xx answer is thrown with its body. */
export async function webdriver(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json)}`);
  return json.value;
}

/** Opens a session that launches `application`, with helpers over it. */
export async function session(base, application) {
  const call = (method, path, body) => webdriver(base, method, path, body);
  const created = await call("POST", "/session", {
    capabilities: { alwaysMatch: { "tauri:options": { application } } },
  });
  const id = created.sessionId;
  const find = (css) => call("POST", `/session/${id}/element`, { using: "css selector", value: css }).then((e) => Object.values(e)[0]);
  const findAll = (css) =>
    call("POST", `/session/${id}/elements`, { using: "css selector", value: css }).then((list) => list.map((e) => Object.values(e)[0]));
  const text = async (css) => call("GET", `/session/${id}/element/${await find(css)}/text`);
  const type = async (css, value) => call("POST", `/session/${id}/element/${await find(css)}/value`, { text: value });
  const click = (element) => call("POST", `/session/${id}/element/${element}/click`, {});
  // WebKit paints after the DOM settles: wait two animation frames so the picture is current.
  const painted = () =>
    call("POST", `/session/${id}/execute/async`, {
      script: "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
      args: [],
    });
  /** Saves the window as `screenshots/NAME.png` and returns the file's path. */
  const screenshot = async (name) => {
    await painted();
    const file = join(screenshots, `${name}.png`);
    writeFileSync(file, Buffer.from(await call("GET", `/session/${id}/screenshot`), "base64"));
    return file;
  };
  const close = () => call("DELETE", `/session/${id}`).catch(() => undefined);
  return { id, call, find, findAll, text, type, click, screenshot, close };
}

/**
 * Like `startDriver`, but tauri-driver runs inside its own D-Bus session bus with gnome-keyring's
 * Secret Service unlocked in it: what the single-instance plugin and the credential store need.
 * Before tauri-driver starts, the shell writes the bus's address, the X display and its authority
 * file to `busFile` (three lines), so a test can start a second copy of the app on the same bus
 * and screen.
 */
export async function startDriverInBus(env, port, busFile) {
  const inside =
    `printf '%s\\n%s\\n%s\\n' "$DBUS_SESSION_BUS_ADDRESS" "$DISPLAY" "$XAUTHORITY" > '${busFile}' && ` +
    "echo -n fieldsync | gnome-keyring-daemon --unlock --components=secrets >/dev/null && " +
    `exec tauri-driver --port ${port} --native-port ${port + 1}`;
  // What the bus, the keyring and the driver say goes to `busFile`.log, for when it does not start.
  const log = openSync(`${busFile}.log`, "a");
  const driver = spawn("xvfb-run", ["-a", "-s", "-screen 0 1280x800x24", "dbus-run-session", "--", "sh", "-c", inside], { env, stdio: ["ignore", log, log], detached: true });
  closeSync(log);
  const handle = groupHandle(driver);
  const base = `http://127.0.0.1:${port}`;
  try {
    await until("tauri-driver in its session bus", () => fetch(`${base}/status`).then((r) => r.ok));
  } catch (e) {
    handle.child.kill("SIGTERM");
    throw new Error(`${e.message}; it said: ${readFileSync(`${busFile}.log`, "utf8").slice(-2000)}`);
  }
  const [bus, display, xauthority] = readFileSync(busFile, "utf8").split("\n");
  return { base, handle, bus, display, xauthority };
}

/**
 * A launcher for one flow: a shell script in `dir` that sets `env` (a server, a fresh home) and
 * execs `binary` in its own process, so one tauri-driver can start the real app with another
 * home for each flow (its capabilities take no environment). It writes the X display the app
 * got and its authority file (xvfb-run makes one) to `dir/display`, two lines, for xdotool, and
 * keeps what the app writes to stderr in `dir/app.log` (tauri-driver discards it).
 */
export function launcher(dir, binary, env) {
  const quote = (v) => `'${String(v).replaceAll("'", "'\\''")}'`;
  const lines = ["#!/bin/sh", ...Object.entries(env).map(([k, v]) => `export ${k}=${quote(v)}`)];
  lines.push(`printf '%s\\n%s\\n' "$DISPLAY" "$XAUTHORITY" > ${quote(join(dir, "display"))}`, `exec ${quote(binary)} "$@" 2>>${quote(join(dir, "app.log"))}`);
  const file = join(dir, "launch.sh");
  writeFileSync(file, lines.join("\n") + "\n");
  chmodSync(file, 0o755);
  return file;
}

/** An XPath string literal for `text`, whatever quotes it holds. */
export function xpathLiteral(text) {
  if (!text.includes("'")) return `'${text}'`;
  if (!text.includes('"')) return `"${text}"`;
  return `concat(${text.split("'").map((p) => `'${p}'`).join(`, "'", `)})`;
}

/**
 * More calls over a `session`: elements by XPath and by their words, clicks by words, a field's
 * text replaced (select all, delete, type: what a person does, so React sees every key), an
 * option chosen, a script run, and text waited for.
 */
export function more(app) {
  const { id, call } = app;
  const xpath = (expr) => call("POST", `/session/${id}/element`, { using: "xpath", value: expr }).then((e) => Object.values(e)[0]);
  const xpathAll = (expr) => call("POST", `/session/${id}/elements`, { using: "xpath", value: expr }).then((l) => l.map((e) => Object.values(e)[0]));
  /** The first `tag` (inside the first `within`, a CSS selector) whose words contain `words`. */
  const byText = async (tag, words, within) => {
    const scope = within ? `//*[@data-testid=${xpathLiteral(within)}]//` : "//";
    return xpath(`${scope}${tag}[contains(normalize-space(.), ${xpathLiteral(words)})]`);
  };
  /** Clicks the first `tag` with `words`, waiting for it to appear (pages read asynchronously). */
  const clickText = async (tag, words, within, ms = 15000) => app.click(await until(`a ${tag} with "${words}"`, () => byText(tag, words, within), ms));
  const elementText = (element) => call("GET", `/session/${id}/element/${element}/text`);
  const keys = (element, text) => call("POST", `/session/${id}/element/${element}/value`, { text });
  // WebKitWebDriver drops what follows a modifier's release in the same call: three calls.
  const replace = async (element, value) => {
    await keys(element, "\uE009a\uE000");
    await keys(element, "\uE017");
    if (value !== "") await keys(element, value);
  };
  const execute = (script, args = []) => call("POST", `/session/${id}/execute/sync`, { script, args });
  const choose = async (selectCss, value) => app.click(await app.find(`${selectCss} option[value=${JSON.stringify(value)}]`));
  const attribute = async (element, name) => call("GET", `/session/${id}/element/${element}/attribute/${name}`);
  /** Waits until the text of `css` matches `pattern`; returns the text. */
  const waitText = (css, pattern, ms = 30000) =>
    until(`${css} to match ${pattern}`, async () => {
      const t = await app.text(css);
      return pattern.test(t) ? t : null;
    }, ms);
  return { xpath, xpathAll, byText, clickText, elementText, keys, replace, execute, choose, attribute, waitText };
}
