// Starts the real parts for a browser test: the embedded demo server and the office app's
// command layer with its UI on loopback, both as the `fieldsync` binary runs them.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");
const binary = process.env.FIELDSYNC_BIN ?? join(root, "target", "debug", "fieldsync");
export const screenshots = join(here, "screenshots");
mkdirSync(screenshots, { recursive: true });

/** Runs `fieldsync ARGS` until a line of its output matches; resolves with the match. */
export function start(args, pattern, env = {}) {
  const child = spawn(binary, args, { env: { ...process.env, FIELDSYNC_LOG: "warn", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const found = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} from fieldsync ${args.join(" ")} within 60 s:\n${output}`)), 60000);
    const look = (chunk) => {
      output += chunk;
      const m = output.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on("data", look);
    child.stderr.on("data", look);
    child.on("exit", (code) => reject(new Error(`fieldsync ${args.join(" ")} exited ${code}:\n${output}`)));
  });
  return { child, found };
}

export function stop(proc) {
  return new Promise((resolve) => {
    if (proc.child.exitCode !== null) return resolve();
    proc.child.once("exit", () => resolve());
    proc.child.kill("SIGTERM");
  });
}

/** A fresh demo server on a port the kernel picks (never a guessed one: a guess can land on a
 * driver's port); a restart reuses it. Returns its address and a way to stop it. */
export async function demoServer(port) {
  const dir = mkdtempSync(join(tmpdir(), "fieldsync-e2e-"));
  const listen = `127.0.0.1:${port ?? 0}`;
  const proc = start(["demo", "--no-app", "--no-devices", "--listen", listen, "--data-dir", join(dir, "server")], /Fieldsync demo server: (http:\/\/[0-9.:]+)/);
  const [, base] = await proc.found;
  return { base, dir, proc };
}

/** The office app signed in as `user`; returns the URL with its per-run secret. */
export async function officeApp(base, dir, user) {
  const proc = start(["app", "--server", base, "--data-dir", join(dir, `app-${user}`), "--user", user, "--ui-dir", join(root, "ui", "dist")], /Fieldsync office app: (\S+)/);
  const [, url] = await proc.found;
  return { url, proc };
}

/** A fresh demo server, the office app signed in as `user` on it, and a browser on the app; the
 * two processes go on `running`, for the test file's `after` to stop. */
export async function officeSession(running, user, context = {}) {
  const server = await demoServer();
  running.push(server.proc);
  const app = await officeApp(server.base, server.dir, user);
  running.push(app.proc);
  const { b, page } = await open(app.url, context);
  return { server, app, b, page };
}

export async function browser() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** A fresh browser on `url`, at the size the screenshots are taken. `context` adds browser
 * context options, e.g. `{ timezoneId: "Europe/Berlin" }` for a person in another time zone. */
export async function open(url, context = {}) {
  const b = await browser();
  const page = await b.newPage({ viewport: { width: 1400, height: 900 }, ...context });
  await page.goto(url);
  return { b, page };
}

export async function shot(page, name) {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** A device talking to the server's API directly, for setting up collisions from "elsewhere". */
export async function device(base, username, deviceName) {
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password: "fieldsync-demo", device_name: deviceName }),
  }).then((r) => r.json());
  const auth = { Authorization: `Bearer ${login.token}`, "Content-Type": "application/json" };
  return {
    /** One pull page; `report` is the outbox a device tells the server it holds. */
    async pull(after, report = {}) {
      const query = new URLSearchParams({ after: String(after), limit: "1000", ...report });
      return fetch(`${base}/api/v1/sync/pull?${query}`, { headers: auth }).then((r) => r.json());
    },
    async pullAll() {
      let after = 0;
      const changes = [];
      for (;;) {
        const page = await fetch(`${base}/api/v1/sync/pull?after=${after}&limit=1000`, { headers: auth }).then((r) => r.json());
        changes.push(...page.changes);
        after = page.next;
        if (!page.more) return changes;
      }
    },
    async push(changes) {
      const answer = await fetch(`${base}/api/v1/sync/push`, { method: "POST", headers: auth, body: JSON.stringify({ changes }) }).then((r) => r.json());
      return answer.outcomes;
    },
  };
}

export function update(recordType, recordId, group, baseVersion, values, ownerEpoch = 1) {
  return {
    change_id: crypto.randomUUID(),
    record_type: recordType,
    record_id: recordId,
    group,
    op: "update",
    base_version: baseVersion,
    values,
    owner_epoch: ownerEpoch,
    device_time: new Date().toISOString(),
  };
}

/** Kills the demo server as a crash would (SIGKILL: no goodbye to its clients); `server` is a
 * `demoServer()` answer. Its data dir stays for `restartDemoServer`. */
export function killDemoServer(server) {
  return new Promise((resolve) => {
    const child = server.proc.child;
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** Starts the demo server again on the same port over the same data dir (no fresh seed); the
 * new process replaces `server.proc` and is returned, for the test's list of things to stop. */
export async function restartDemoServer(server) {
  const listen = server.base.replace(/^http:\/\//, "");
  const proc = start(["demo", "--no-app", "--no-devices", "--listen", listen, "--data-dir", join(server.dir, "server")], /Fieldsync demo server: (http:\/\/[0-9.:]+)/);
  await proc.found;
  server.proc = proc;
  return proc;
}

/** Runs axe-core on the page and fails on any serious or critical problem, naming `screen`. */
export async function accessible(page, screen) {
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `accessibility problems on the ${screen}`,
  );
}
