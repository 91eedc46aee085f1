// People and devices in the office app: the admin adds a technician with a first password, the
// technician signs in and must choose their own before anything else, and the admin revokes their
// device in a dialog; in Debian's Chromium against the real server and command layer.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { accessible, officeSession, open, root, shot, start, stop } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

test("an admin adds a technician, who chooses a password at first sign-in; the admin revokes the device", async () => {
  const { server, b, page } = await officeSession(running, "ada");
  try {
    await page.getByRole("button", { name: "People and devices" }).click();
    await page.locator("[data-testid=accounts]").waitFor();
    await page.getByRole("button", { name: "Add a person…" }).click();
    const dialog = page.locator("[role=dialog][aria-label='Add a person']");
    await dialog.getByLabel("User name (what they sign in with)").fill("Tess Ng");
    await dialog.getByLabel("Name shown on screens").fill("Tess Ng");
    await dialog.getByLabel("Role").selectOption("technician");
    await dialog.getByLabel("Team (optional)").fill("north");
    await dialog.getByLabel("First password (they change it at first sign-in)").fill("first password");
    await dialog.getByRole("button", { name: "Add", exact: true }).click();
    // Core's rule for user names, in its own words, and nothing added.
    assert.match(await dialog.locator("[role=alert]").innerText(), /cannot be a user name/);
    await dialog.getByLabel("User name (what they sign in with)").fill("tess");
    await dialog.getByRole("button", { name: "Add", exact: true }).click();
    const row = page.locator("[data-testid=accounts] tr[data-user=tess]");
    await row.waitFor();
    assert.match(await row.innerText(), /chooses a new password at next sign-in/);
    await accessible(page, "people page");
    await shot(page, "admin-people");

    // Tess signs in on her own app: her own password comes first.
    const tessApp = start(["app", "--server", server.base, "--data-dir", join(server.dir, "app-tess"), "--ui-dir", join(root, "ui", "dist")], /Fieldsync office app: (\S+)/);
    running.push(tessApp);
    const [, url] = await tessApp.found;
    const tess = await open(url);
    try {
      await tess.page.getByLabel("User name").fill("tess");
      await tess.page.getByLabel("Password").fill("first password");
      await tess.page.getByRole("button", { name: "Sign in" }).click();
      await tess.page.getByRole("heading", { name: "Choose your password" }).waitFor();
      await accessible(tess.page, "choose-your-password screen");
      await shot(tess.page, "technician-first-password");
      await tess.page.getByLabel("Current password").fill("first password");
      await tess.page.getByLabel("New password (at least 8 characters)").fill("tess's own secret");
      await tess.page.getByLabel("New password again").fill("tess's own secret");
      await tess.page.getByRole("button", { name: "Save password" }).click();
      await tess.page.locator("[data-testid=sync-banner]").waitFor();
    } finally {
      await tess.b.close();
    }

    // The admin sees her device (the page read again) and revokes it, after a dialog that
    // says what happens.
    await page.getByRole("button", { name: "Board" }).click();
    await page.getByRole("button", { name: "People and devices" }).click();
    const device = page.locator("[data-testid=devices] tr", { hasText: "Tess Ng" });
    await device.waitFor();
    await device.getByRole("button", { name: /^Revoke/ }).click();
    const revoke = page.locator("[role=dialog]", { hasText: "ends the session" });
    await revoke.waitFor();
    await shot(page, "admin-revoke-dialog");
    await revoke.getByRole("button", { name: "Revoke the device" }).click();
    await device.filter({ hasText: "revoked" }).waitFor();
    const log = await page.locator("[data-testid=admin-log]").innerText();
    // Newest first; the kinds read in capitals on screen.
    // In names: the device and its person, the person's display name; no ids or user names.
    assert.match(log, /revoke device .*\(Tess Ng\): its token is refused/i);
    assert.match(log, /change own password\s+Tess Ng/i);
    assert.match(log, /add user\s+Tess Ng/i);
    assert.doesNotMatch(log, /[0-9a-f]{8}-[0-9a-f]{4}-/, "no device ids in the log");
  } finally {
    await b.close();
  }
});

test("an app whose device an admin revokes goes to the sign-in screen and says why", async () => {
  const { server, b, page } = await officeSession(running, "dana");
  try {
    await page.locator("[data-testid=board] tbody tr").first().waitFor();
    // The admin revokes Dana's office app from the server's API.
    const login = await fetch(`${server.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "ada", password: "fieldsync-demo", device_name: "Admin laptop" }),
    }).then((r) => r.json());
    const auth = { Authorization: `Bearer ${login.token}`, "Content-Type": "application/json" };
    const devices = await fetch(`${server.base}/api/v1/devices`, { headers: auth }).then((r) => r.json());
    const mine = devices.find((d) => d.user === "dana" && d.name.startsWith("Office app"));
    assert.ok(mine, JSON.stringify(devices.map((d) => `${d.user}: ${d.name}`)));
    const revoked = await fetch(`${server.base}/api/v1/devices/${mine.device_id}/revoke`, { method: "POST", headers: auth });
    assert.equal(revoked.status, 204);
    // The revoke pokes the device; its next call is refused and it goes to sign-in with the
    // server's words by itself (nobody presses anything), never a banner that says "Synced".
    const why = page.locator("[data-testid=signed-out-reason]");
    await why.waitFor({ timeout: 10000 });
    assert.match(await why.innerText(), /revoked/);
    await accessible(page, "sign-in after a revoked device");
    await shot(page, "signed-out-revoked");
  } finally {
    await b.close();
  }
});
