import { chromium, type Browser, type Page } from 'playwright-core';
import { previewDiagram } from '../../api/plan-diagram';
import { planDiagram, policyDiagram } from '../../domain/diagram';
import { evaluate } from '../../domain/policy';
import { loadConfig } from '../../platform/config-files';
import { facts } from '../unit/demo-config';

jest.setTimeout(60_000);

// The diagrams are for people: proven by Mermaid itself (its browser bundle) parsing and drawing them in Chromium.
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  page = await browser.newPage();
  await page.setContent('<!doctype html><html><body></body></html>');
  await page.addScriptTag({ path: require.resolve('mermaid/dist/mermaid.min.js') });
});
afterAll(async () => {
  await browser?.close();
});

// What the page offers, typed here because this project compiles without the DOM library.
interface Element {
  innerHTML: string;
  textContent: string | null;
  querySelectorAll(selector: string): ArrayLike<{ localName: string }>;
  remove(): void;
}
interface PageGlobals {
  mermaid: { initialize(config: object): void; render(id: string, text: string): Promise<{ svg: string }> };
  document: { createElement(tag: string): Element; body: { append(element: Element): void } };
}

/** Renders each diagram into the page as a browser shows it: its text and element names, or Mermaid's error. */
async function render(diagrams: string[]): Promise<({ text: string; tags: string[] } | { error: string })[]> {
  return page.evaluate(async (texts) => {
    const { mermaid, document } = globalThis as unknown as PageGlobals;
    mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });
    const results = [];
    for (const [i, text] of texts.entries()) {
      try {
        const { svg } = await mermaid.render(`diagram${i}`, text);
        const holder = document.createElement('div');
        holder.innerHTML = svg;
        document.body.append(holder);
        results.push({
          text: holder.textContent ?? '',
          tags: [...new Set(Array.from(holder.querySelectorAll('*'), (e) => e.localName))],
        });
        holder.remove();
      } catch (err) {
        results.push({ error: String(err) });
      }
    }
    return results;
  }, diagrams);
}

describe('Mermaid draws the diagrams', () => {
  const config = loadConfig('config/demo', {});

  it('draws the whole policy and the plan of every kind of demo request', async () => {
    const asks = [
      { entitlement: 'github:member' },
      { entitlement: 'analytics-db:read' },
      { entitlement: 'analytics-db:write', fields: { ticket: 'CHG-1' } },
      { entitlement: 'payroll:viewer' },
      { entitlement: 'aws-prod:admin', fields: { ticket: 'INC-1' } },
      { entitlement: 'aws-prod:admin', fields: { ticket: 'INC-1' }, breakGlass: true },
      {
        entitlement: 'analytics-db:read',
        duration: 'P120D',
        exception: { compensatingControl: 'Monthly review by the owner.' },
      },
    ];
    const diagrams = [
      policyDiagram(config),
      ...asks.map((ask) => previewDiagram(evaluate(facts('alice', ask), config), config) ?? 'missing'),
    ];
    const drawn = await render(diagrams);
    expect(drawn.filter((d) => 'error' in d)).toEqual([]);
    expect(drawn.map((d) => ('text' in d ? d.text : ''))[4]).toContain('3. security');
  });

  it('draws hostile names as text: no element, link or script comes out of them', async () => {
    const hostile = 'Eve"]) --> x[("<img src=x onerror=alert(1)>") click x "javascript:alert(2)" #quot; `**md**`';
    const [drawn] = await render([
      planDiagram({
        subject: hostile,
        kind: 'stages',
        rule: hostile,
        why: [hostile],
        stages: [
          { name: hostile, quorum: 'any', required: 1, approvers: [hostile], fallback: [hostile], clock: [hostile] },
        ],
      }),
    ]);
    if (!drawn || 'error' in drawn) throw new Error(`not drawn: ${drawn && 'error' in drawn ? drawn.error : ''}`);
    expect(drawn.text).toContain('<img src=x onerror=alert(1)>');
    expect(drawn.text).toContain('#quot;');
    expect(drawn.tags).not.toContain('img');
    expect(drawn.tags).not.toContain('a');
    expect(drawn.tags).not.toContain('script');
  });
});
