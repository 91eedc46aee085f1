// What the field sent, in the office's job page, in a real browser against the demo server and
// the real command layer: Tom's photos as thumbnails (alt text from the caption, or which photo,
// who and when), one opened larger in an in-app dialog that Escape closes, the signature image
// beside the signer and the time; all still there with the server killed, and a photo never
// fetched says so in words. The files API refuses a technician a file of someone else's job.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { accessible, killDemoServer, officeSession, shot, stop } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** The office person's time zone: far from UTC, so a time shown in UTC would be seen. */
const ZONE = "Asia/Tokyo";
const localClock = (iso) => new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: ZONE });

async function login(base, username) {
  const answer = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password: "fieldsync-demo", device_name: `${username[0].toUpperCase()}${username.slice(1)}'s laptop` }),
  }).then((r) => r.json());
  return { Authorization: `Bearer ${answer.token}` };
}

async function pullAll(base, auth) {
  let after = 0;
  const changes = [];
  for (;;) {
    const page = await fetch(`${base}/api/v1/sync/pull?after=${after}&limit=1000`, { headers: auth }).then((r) => r.json());
    changes.push(...page.changes);
    after = page.next;
    if (!page.more) return changes;
  }
}

/** Opens a job from the board by its summary and waits for its panel. */
async function openJob(page, summary) {
  const close = page.locator("[data-testid=job-detail] button[aria-label=Close]");
  if (await close.count()) await close.click();
  await page.locator("[data-testid=board] tbody tr", { hasText: summary }).first().click();
  await page.waitForSelector("[data-testid=field-sent]");
}

/** Every image on the page has loaded and has pixels. */
async function imagesLoaded(page, selector) {
  await page.waitForFunction((s) => {
    const images = [...document.querySelectorAll(s)];
    return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
  }, selector);
}

test("a technician's photos and signature appear in the office's job page and stay with the server down", async () => {
  const { server, b, page } = await officeSession(running, "dana", { viewport: { width: 1440, height: 900 }, locale: "en-GB", timezoneId: ZONE });
  try {
    // The files API: the office and the job's technician may fetch a photo; another technician
    // is refused (403), for a file of a job that is not theirs.
    const dana = await login(server.base, "dana");
    const changes = await pullAll(server.base, dana);
    const jobOf = (summary) => changes.find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === summary).record_id;
    const photoChanges = (job) => changes.filter((c) => c.record_type === "photo" && c.values.file.job_id === job);
    const photosOf = (job) => photoChanges(job).map((c) => c.values.file.sha256);
    const heating = jobOf("Heating not reaching classroom 3");
    const cooler = jobOf("Service the walk-in cooler");
    assert.equal(photosOf(heating).length, 3, "the demo seeds three photos on Tom's job");
    const [kaisPhoto] = photosOf(cooler);
    const tom = await login(server.base, "tom");
    const refused = await fetch(`${server.base}/api/v1/files/${kaisPhoto}`, { headers: tom });
    assert.equal(refused.status, 403);
    assert.equal((await refused.json()).code, "forbidden");
    const own = await fetch(`${server.base}/api/v1/files/${photosOf(heating)[0]}`, { headers: tom });
    assert.equal(own.status, 200);
    assert.equal(own.headers.get("content-type"), "image/jpeg");
    const originalBytes = (await own.arrayBuffer()).byteLength;
    const office = await fetch(`${server.base}/api/v1/files/${kaisPhoto}`, { headers: dana });
    assert.equal(office.status, 200);

    // The office's job page: three thumbnails, the second without a caption.
    await page.waitForSelector("[data-testid=board] tbody tr");
    const started = Date.now();
    await openJob(page, "Heating not reaching classroom 3");
    await imagesLoaded(page, "[data-testid=photo-thumb] img");
    const firstThumbnail = Date.now() - started;
    const thumbs = page.locator("[data-testid=photo-thumb] img");
    assert.equal(await thumbs.count(), 3);
    const alts = await thumbs.evaluateAll((images) => images.map((i) => i.alt));
    assert.equal(alts[0], "Seized valve on the classroom 3 radiator");
    // The time the photo was taken on Tom's tablet, in the office person's own zone.
    assert.equal(alts[1], `Photo 2 of 3, taken by Tom Baker at ${localClock(photoChanges(heating)[1].device_time)}`);
    assert.equal(alts[2], "Radiator warm again after bleeding");
    const thumbBytes = await thumbs.first().evaluate((i) => Math.round(((i.src.length - i.src.indexOf(",") - 1) * 3) / 4));
    const natural = await thumbs.first().evaluate((i) => [i.naturalWidth, i.naturalHeight]);
    assert.deepEqual(natural, [240, 180], "a thumbnail, not the 1280×960 photo");
    console.log(`figures: photo ${originalBytes} bytes -> thumbnail ${thumbBytes} bytes (${((100 * thumbBytes) / originalBytes).toFixed(1)}%); board click to first thumbnail shown ${firstThumbnail} ms`);
    const sent = await page.locator("[data-testid=field-sent]").innerText();
    assert.match(sent, /TRV-15/);
    assert.match(sent, /Radiator valve seized; freeing it now\.\nTom Baker · /);
    await accessible(page, "job page with photos");
    await shot(page, "fieldfiles-job-1440x900");

    // The second photo larger, in the app; Escape closes the dialog and leaves the job open.
    await page.locator("[data-testid=photo-thumb]").nth(1).click();
    const dialog = page.locator("[data-testid=photo-dialog]");
    await dialog.waitFor();
    await imagesLoaded(page, "[data-testid=photo-dialog] img");
    assert.deepEqual(await dialog.locator("img").evaluate((i) => [i.naturalWidth, i.naturalHeight]), [1280, 960]);
    assert.match(await dialog.innerText(), /Taken by Tom Baker · \d{2}:\d{2}/);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Close");
    await accessible(page, "photo dialog");
    await shot(page, "fieldfiles-photo-dialog-1440x900");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await page.locator("[data-testid=job-detail]").count(), 1, "Escape closed the dialog, not the job");
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "photo-thumb", "focus back on the thumbnail");

    // The signed-off job: the signature image beside the signer and the time.
    await openJob(page, "Annual gas safety check");
    await imagesLoaded(page, "[data-testid=signature] img");
    const signature = page.locator("[data-testid=signature]");
    assert.equal(await signature.locator("img").getAttribute("alt"), "Signature of J. Harbour (manager)");
    assert.match(await signature.innerText(), /Signed by J\. Harbour \(manager\) · (\d{1,2} \w+ \d{4}, )?\d{2}:\d{2}/);
    await page.setViewportSize({ width: 1280, height: 720 });
    await shot(page, "fieldfiles-signature-1280x720");

    // The server is gone: what was shown is still there, from this person's files folder.
    await killDemoServer(server);
    await openJob(page, "Heating not reaching classroom 3");
    await imagesLoaded(page, "[data-testid=photo-thumb] img");
    assert.equal(await page.locator("[data-testid=photo-thumb] img").count(), 3);
    await page.locator("[data-testid=photo-thumb]").first().click();
    await imagesLoaded(page, "[data-testid=photo-dialog] img");
    await page.keyboard.press("Escape");
    await openJob(page, "Annual gas safety check");
    await imagesLoaded(page, "[data-testid=signature] img");
    // Kai's job was never opened here: its photo was not fetched, and the page says so.
    await openJob(page, "Service the walk-in cooler");
    const missing = page.locator("[data-testid=photo-missing]");
    await missing.waitFor();
    assert.equal(await missing.innerText(), "This photo has not been downloaded to this computer yet; it appears when the server is back.");
    await accessible(page, "job page offline");
    await shot(page, "fieldfiles-offline-1280x720");
    await page.setViewportSize({ width: 1440, height: 900 });
    await shot(page, "fieldfiles-offline-1440x900");
  } finally {
    await b.close();
  }
});
