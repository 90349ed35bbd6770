/**
 * The dashboard is served by the Worker itself (src/routes/dashboard.ts), from the files the
 * build bundles into it: no static-asset router in front of the service's requests.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("GET / (the dashboard)", () => {
  it("serves the page, its script and its stylesheet with their types, no token needed", async () => {
    const page = await exports.default.fetch("http://edge.test/");
    expect(page.status).toBe(200);
    expect(page.headers.get("Content-Type")).toBe("text/html; charset=utf-8");
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    for (const [path, type] of [
      ["/app.js", "text/javascript; charset=utf-8"],
      ["/style.css", "text/css; charset=utf-8"],
      ["/index.html", "text/html; charset=utf-8"],
    ]) {
      const response = await exports.default.fetch(`http://edge.test${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("Content-Type"), path).toBe(type);
      expect((await response.text()).length, path).toBeGreaterThan(100);
    }
  });

  it("anything else is still the service's own 404", async () => {
    const response = await exports.default.fetch("http://edge.test/app.js.map");
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: "resource_not_found" } });
  });
});
