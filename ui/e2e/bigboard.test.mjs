// A large office's board in a real browser: a server seeded with 5,000 jobs and 200 technicians
// (straight into its store by `fieldsync bench board --seed-only`, a few seconds), the office app
// synced with it, and Chromium timing a keystroke in the search until the list shows the one
// job it names. The list is virtualised: far fewer table rows in the page than jobs, and the
// last job is reached by scrolling (and by the keyboard's End) all the same. Prints the figures.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { accessible, officeApp, open, root, shot, start, stop } from "./harness.mjs";

const JOBS = 5000;
const TECHNICIANS = 200;
const binary = process.env.FIELDSYNC_BIN ?? join(root, "target", "debug", "fieldsync");

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** The p-th fraction of some timings. */
const at = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * p))];

test("a keystroke in the search filters a board of 5,000 jobs, drawn as a virtual list", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fieldsync-bigboard-"));
  const t0 = Date.now();
  const seeded = spawnSync(binary, ["bench", "board", "--jobs", String(JOBS), "--technicians", String(TECHNICIANS), "--seed-only", join(dir, "server")], {
    env: { ...process.env, FIELDSYNC_LOG: "warn" },
    encoding: "utf8",
  });
  assert.equal(seeded.status, 0, `seeding failed:\n${seeded.stdout}\n${seeded.stderr}`);
  const seeding = Date.now() - t0;
  assert.ok(seeding < 45000, `seeding took ${seeding} ms`);
  // The server says where it listens in its log line; the kernel picks the port.
  const server = start(["serve", "--listen", "127.0.0.1:0", "--data-dir", join(dir, "server")], /server listening[\s\S]*?(127\.0\.0\.1:\d+)/, { FIELDSYNC_LOG: "info" });
  running.push(server);
  const [, address] = await server.found;
  const base = `http://${address}`;
  const t1 = Date.now();
  const app = await officeApp(base, dir, "dana");
  running.push(app.proc);
  const { b, page } = await open(app.url, { viewport: { width: 1440, height: 900 } });
  try {
    const count = page.getByTestId("board-count");
    await page.waitForFunction((n) => document.querySelector("[data-testid=board-count]")?.textContent === `${n.toLocaleString()} jobs`, JOBS, { timeout: 120000 });
    const synced = Date.now() - t1;
    const rows = () => page.locator("[data-testid=board] tbody tr").count();
    const drawn = await rows();
    assert.ok(drawn > 5 && drawn < 100, `virtualised: ${drawn} table rows drawn for ${JOBS} jobs`);
    await shot(page, "bigboard-1440");
    await accessible(page, "large board");

    // Keystrokes: the job number typed but its last digit, then the last digit, timed from the
    // key going down to the list showing that one job (only what the page draws, no paint).
    const numbers = await page.evaluate(() => [...document.querySelectorAll("[data-testid=board] tbody tr")].map((r) => r.dataset.number).filter(Boolean));
    assert.ok(numbers.length >= 5, `numbered rows: ${numbers}`);
    const wanted = [];
    for (let i = 0; i < 12; i++) wanted.push(`J-${String(1 + ((i * 409 + 17) % JOBS)).padStart(6, "0")}`);
    assert.match(numbers[0], /^J-\d{6}$/, "numbers look like J-000123");
    const search = page.getByLabel("Search jobs");
    const times = [];
    for (const number of wanted) {
      await search.fill(number.slice(0, -1));
      await page.waitForFunction((prefix) => {
        const rows = [...document.querySelectorAll("[data-testid=board] tbody tr")];
        return rows.length > 0 && rows.every((r) => r.dataset.number.startsWith(prefix));
      }, number.slice(0, -1));
      await search.focus();
      await page.evaluate(() => {
        window.__keyAt = null;
        document.querySelector("input[aria-label='Search jobs']").addEventListener("keydown", () => (window.__keyAt = performance.now()), { once: true });
      });
      await page.keyboard.press(number.slice(-1));
      const ms = await page.evaluate(
        (want) =>
          new Promise((resolve) => {
            const done = () => {
              const rows = [...document.querySelectorAll("[data-testid=board] tbody tr")];
              if (rows.length === 1 && rows[0].dataset.number === want) resolve(performance.now() - window.__keyAt);
              else requestAnimationFrame(done);
            };
            done();
          }),
        number,
      );
      times.push(ms);
    }
    times.sort((a, b) => a - b);
    // The baseline, in the same run: a command that does no work, through the same bridge.
    const idle = await page.evaluate(async () => {
      const secret = new URLSearchParams(window.location.search).get("s");
      const out = [];
      for (let i = 0; i < 12; i++) {
        const t = performance.now();
        await fetch(`/api/${secret}/desk`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "null" }).then((r) => r.json());
        out.push(performance.now() - t);
      }
      return out.sort((a, b) => a - b);
    });
    const p50 = at(times, 0.5);
    const p95 = at(times, 0.95);
    await shot(page, "bigboard-search-1440");

    // Scrolled to the end, the last jobs are drawn (fetched as the window moves), and the
    // keyboard's End gets there too.
    await search.fill("");
    await page.waitForFunction((n) => document.querySelector("[data-testid=board-count]")?.textContent === `${n.toLocaleString()} jobs`, JOBS);
    await page.getByTestId("board-scroll").evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    await page.waitForSelector(`[data-testid=board] tbody tr[aria-rowindex="${JOBS + 1}"]`);
    assert.ok((await rows()) < 100, "still only the rows on screen");
    await page.getByTestId("board-scroll").evaluate((el) => el.scrollTo({ top: 0 }));
    await page.waitForSelector(`[data-testid=board] tbody tr[aria-rowindex="2"]`);
    await page.locator("[data-testid=board] tbody tr").first().focus();
    await page.keyboard.press("End");
    await page.waitForFunction((n) => document.activeElement?.getAttribute("aria-rowindex") === String(n + 1), JOBS);
    await page.keyboard.press("ArrowUp");
    await page.waitForFunction((n) => document.activeElement?.getAttribute("aria-rowindex") === String(n), JOBS);
    await page.keyboard.press("Home");
    await page.waitForFunction(() => document.activeElement?.getAttribute("aria-rowindex") === "2");

    // The same list at a laptop's size, looked at and checked.
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=board] tbody tr").length > 5);
    await shot(page, "bigboard-1280");
    await accessible(page, "large board at 1280x720");

    console.log(`bigboard: seeding ${JOBS} jobs and ${TECHNICIANS} technicians ${(seeding / 1000).toFixed(1)} s; the app signed in and synced in ${(synced / 1000).toFixed(1)} s`);
    console.log(`bigboard: ${drawn} table rows drawn for ${JOBS} jobs`);
    console.log(`bigboard: keystroke to filtered list (one job number, ${times.length} keystrokes): p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms (target < 100 ms); baseline, a command that does no work through the same bridge: p50 ${at(idle, 0.5).toFixed(1)} ms`);
    // A generous bound a noisy shared machine keeps; the figure above is the measurement.
    assert.ok(p50 < 1000, `a keystroke took ${p50} ms (p50)`);
    assert.ok(await count.isVisible());
  } finally {
    await b.close();
  }
});
