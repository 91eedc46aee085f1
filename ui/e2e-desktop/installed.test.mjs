// The desktop app as a person gets it: the .deb that scripts/bundle made, installed with dpkg,
// the installed binary started (not the one in target/) on a machine that has never run it, with
// no server named, under Xvfb over WebDriver. It builds nothing: scripts/test runs scripts/bundle
// first, and FIELDSYNC_DEB (or FIELDSYNC_RPM) names another package.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root, stop } from "../e2e/harness.mjs";
import { session, startDriver, until } from "./driver.mjs";

const installed = "/usr/bin/fieldsync-desktop";
// The package's name is the product name's (tauri.conf.json), in lower case.
const packageName = JSON.parse(readFileSync(join(root, "src-tauri", "tauri.conf.json"), "utf8")).productName.toLowerCase();
// tauri.conf.json names no version, so the bundle carries the crate's: the workspace's.
const version = readFileSync(join(root, "Cargo.toml"), "utf8").match(/\[workspace\.package\][^[]*?\nversion = "([^"]+)"/)[1];

/** The newest bundle of `kind` under target/*\/bundle/KIND/, or the one `variable` names. */
function bundle(kind, variable) {
  if (process.env[variable]) return process.env[variable];
  const found = [];
  for (const profile of ["debug", "release"]) {
    const dir = join(root, "target", profile, "bundle", kind);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) if (name.endsWith(`.${kind}`)) found.push(join(dir, name));
  }
  found.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return found[0];
}

const isRoot = process.getuid?.() === 0;
const hasSudo = !isRoot && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0;
/** Runs a command as root (itself when root, else through `sudo -n`). */
const asRoot = (command, args) => (isRoot ? execFileSync(command, args, { encoding: "utf8" }) : execFileSync("sudo", ["-n", command, ...args], { encoding: "utf8" }));
const dpkgStatus = () => spawnSync("dpkg-query", ["-W", "-f=${Status} ${Version}", packageName], { encoding: "utf8" });
const wasInstalled = dpkgStatus().stdout.startsWith("install ok installed");

const running = [];
let weInstalled = false;
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
  // Leave the machine as it was: a package this test put there goes again.
  if (weInstalled && !wasInstalled) asRoot("dpkg", ["-r", packageName]);
});

const deb = bundle("deb", "FIELDSYNC_DEB");
const canInstall = isRoot || hasSudo;

test(
  "the .deb installs the app, which starts on a fresh machine at its first-run screen",
  { skip: canInstall ? false : "installing a .deb needs root or passwordless sudo; this user has neither" },
  async () => {
    assert.ok(deb && existsSync(deb), `no .deb: run scripts/bundle first (it writes target/debug/bundle/deb/), or set FIELDSYNC_DEB (looked for: ${deb ?? "target/*/bundle/deb/*.deb"})`);
    asRoot("dpkg", ["-i", deb]);
    weInstalled = true;

    assert.ok(existsSync(installed), `${deb} installed no ${installed}`);
    const status = dpkgStatus().stdout;
    assert.equal(status, `install ok installed ${version}`, `dpkg says ${packageName} is "${status}", not installed at the workspace's version ${version}`);
    const files = execFileSync("dpkg-query", ["-L", packageName], { encoding: "utf8" }).split("\n");
    const entry = files.find((f) => f.startsWith("/usr/share/applications/") && f.endsWith(".desktop"));
    assert.ok(entry, `the package puts no .desktop entry in /usr/share/applications: ${files.join(" ")}`);
    assert.match(readFileSync(entry, "utf8"), /^Exec=fieldsync-desktop/m);
    assert.ok(
      files.some((f) => /^\/usr\/share\/icons\/hicolor\/.*\/apps\/fieldsync-desktop\.png$/.test(f)),
      "the package installs no icon under /usr/share/icons/hicolor",
    );

    // A person's first start: a home of its own with nothing in it, and no server named anywhere.
    const home = mkdtempSync(join(tmpdir(), "fieldsync-installed-"));
    const env = { ...process.env, HOME: home };
    for (const [name, dir] of [["XDG_DATA_HOME", "data"], ["XDG_CONFIG_HOME", "config"], ["XDG_CACHE_HOME", "cache"], ["XDG_STATE_HOME", "state"]]) {
      env[name] = join(home, dir);
      mkdirSync(env[name]);
    }
    for (const name of Object.keys(env)) if (name.startsWith("FIELDSYNC_")) delete env[name];
    // Another port than desktop.test.mjs's, so the two files may run side by side.
    const driver = await startDriver(env, 4446);
    running.push(driver.handle);
    const app = await session(driver.base, installed);
    try {
      const firstRun = await until("the first-run screen", async () => {
        const t = await app.text("[data-testid=first-run]");
        return /server address/i.test(t) ? t : null;
      }, 15000).catch(async (e) => {
        await app.screenshot("installed-first-run");
        const shown = await app.text("body").catch(() => "(no page)");
        throw new Error(
          "the installed app, started with no FIELDSYNC_SERVER and a fresh home, showed no first-run screen " +
            `([data-testid=first-run] saying "server address") within 15 s (${e.message}). ` +
            `The window showed instead: ${JSON.stringify(shown.slice(0, 400))}`,
        );
      });
      assert.match(firstRun, /server address/i);
      await app.screenshot("installed-first-run");
    } finally {
      await app.close();
    }
  },
);

const rpmFile = bundle("rpm", "FIELDSYNC_RPM");
const hasRpm = spawnSync("rpm", ["--version"], { stdio: "ignore" }).status === 0;

test("the .rpm names the app, the workspace's version and its description", { skip: hasRpm ? false : "no rpm command (Debian package rpm)" }, () => {
  assert.ok(rpmFile && existsSync(rpmFile), "no .rpm: run scripts/bundle first (it writes target/debug/bundle/rpm/), or set FIELDSYNC_RPM");
  const info = execFileSync("rpm", ["-qip", rpmFile], { encoding: "utf8" });
  const field = (name) => info.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, "m"))?.[1];
  assert.equal(field("Name"), packageName, info);
  assert.equal(field("Version"), version, info);
  assert.match(field("Summary") ?? "", /Fieldsync office app/, info);
  assert.match(info, /^Description :\n.*office side of Fieldsync/m, info);
  const files = execFileSync("rpm", ["-qlp", rpmFile], { encoding: "utf8" });
  assert.match(files, /^\/usr\/bin\/fieldsync-desktop$/m);
});
