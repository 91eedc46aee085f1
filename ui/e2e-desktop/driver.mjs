// The WebDriver side of the desktop tests: tauri-driver (with Debian's WebKitWebDriver behind it)
// under Xvfb, and a few W3C WebDriver calls over `fetch`, so no WebDriver client package is needed.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
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
