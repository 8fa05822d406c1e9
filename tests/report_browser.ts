/**
 * A real browser for the report tests: Debian's Chromium (installed by `ensureHost` when it
 * is missing), headless, driven by puppeteer-core. Every page records the requests it makes (all but its own file are
 * refused) and its console errors.
 *
 * @module
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { ensureHost } from "./cluster/host.ts";

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** A headless Chromium with a fresh profile; `close` stops it and removes the profile. */
export async function startBrowser(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  await ensureHost();
  const profile = await Deno.makeTempDir({ prefix: "kt-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** A page and what it did. */
export interface OpenedPage {
  page: Page;
  /** Every request the page made, its own URL first. */
  requests: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
}

/**
 * Opens a URL in a new page, refusing every request but the page's own (or its server's,
 * for a served page), and waits until
 * the report's script has run.
 */
export async function openPage(browser: Browser, url: string): Promise<OpenedPage> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  const requests: string[] = [];
  const errors: string[] = [];
  await page.setRequestInterception(true);
  const own = (u: string) =>
    url.startsWith("http:")
      ? new URL(u).origin === new URL(url).origin
      : u.split("#")[0] === url.split("#")[0];
  page.on("request", (request) => {
    requests.push(request.url());
    if (own(request.url())) request.continue();
    else request.abort();
  });
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(`document.documentElement.dataset.ready === "true"`);
  return { page, requests, errors };
}
