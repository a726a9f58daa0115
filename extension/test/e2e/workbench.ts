// Driving the VS Code workbench in the browser: open a file, read the status bar, read ghost
// text, run a palette command, read notifications. Selectors are VS Code 1.96's DOM.
import { Browser, Page } from "playwright-core";
import { sleep } from "./codeServer";

const STATUS_ITEM = '#workbench\\.parts\\.statusbar [aria-label^="codegend"]';

export async function openWorkbench(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
  await page.locator("#workbench\\.parts\\.statusbar").waitFor({ timeout: 30_000 });
  return page;
}

/** Quick Open (Ctrl+P) the file, then wait until its text is in an editor. */
export async function openFile(page: Page, name: string, firstLine: string): Promise<void> {
  await page.locator(".monaco-workbench").click({ position: { x: 600, y: 300 } }).catch(() => undefined);
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input[type=\"text\"]");
  await input.waitFor({ timeout: 15_000 });
  await input.fill(name);
  await page.locator(".quick-input-list .monaco-list-row").first().waitFor({ timeout: 15_000 });
  await page.keyboard.press("Enter");
  await page.locator(".monaco-editor .view-lines", { hasText: nbsp(firstLine) }).first().waitFor({ timeout: 30_000 });
}

export async function statusLabel(page: Page): Promise<string | undefined> {
  const item = page.locator(STATUS_ITEM).first();
  if ((await item.count()) === 0) {
    return undefined;
  }
  return (await item.getAttribute("aria-label")) ?? undefined;
}

/** Waits until the codegend status item's label matches; returns it, or throws with the last one. */
export async function waitForStatus(page: Page, expected: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  while (Date.now() < deadline) {
    last = await statusLabel(page);
    if (last !== undefined && expected.test(last)) {
      return last;
    }
    await sleep(250);
  }
  throw new Error(`status bar never matched ${expected} within ${timeoutMs / 1000} s; last: ${last ?? "(no codegend item)"}`);
}

/**
 * The ghost text the editor shows: the part on the cursor's line (`.ghost-text-decoration`)
 * and any further lines (view zones of `.ghost-text`). Spaces come back as U+00A0.
 */
export async function ghostText(page: Page): Promise<string | undefined> {
  const parts = {
    inline: await page.locator(".monaco-editor .ghost-text-decoration").allTextContents(),
    block: await page.locator(".monaco-editor .ghost-text .view-line").allTextContents(),
  };
  if (parts.inline.length === 0 && parts.block.length === 0) {
    return undefined;
  }
  const text = [parts.inline.join(""), ...parts.block].join("\n");
  return text.replace(/\u00a0/g, " ");
}

export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input[type=\"text\"]");
  await input.waitFor({ timeout: 15_000 });
  await input.fill(`>${title}`);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor({ timeout: 15_000 });
  await page.keyboard.press("Enter");
}

/** Waits for a notification toast whose message matches; returns its text. */
export async function waitForNotification(page: Page, expected: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = await page.locator(".notification-toast .notification-list-item-message").allTextContents();
    const hit = seen.find((text) => expected.test(text));
    if (hit !== undefined) {
      return hit;
    }
    await sleep(250);
  }
  throw new Error(`no notification matched ${expected} within ${timeoutMs / 1000} s; seen: ${JSON.stringify(seen)}`);
}

/** Navigating away first ends the window's extension host (and its language server). */
export async function closeWorkbench(page: Page): Promise<void> {
  await page.goto("about:blank").catch(() => undefined);
  await sleep(500);
  await page.context().close().catch(() => undefined);
}

function nbsp(text: string): string {
  return text.replace(/ /g, "\u00a0");
}
