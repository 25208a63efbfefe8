import { approverMessage } from '../../api/slack/blocks';
import { initialView, type RequestView } from '../../workflows/messages';

function view(change: Partial<RequestView>): RequestView {
  const base = initialView({
    requestId: 'r-1',
    requester: 'alice',
    submittedAt: '2026-11-24T10:00:00Z',
    input: {
      entitlement: 'analytics-db:read',
      justification: 'Numbers <!channel> <https://evil.example|click here>',
      fields: {},
      breakGlass: false,
    },
  });
  return { ...base, status: 'pending_approval', pendingApprovers: ['bob'], ...change };
}

const actions = (blocks: Record<string, unknown>[]) =>
  blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements as { action_id: string }[]);

describe('the approver message', () => {
  test('medium risk: approve and deny for a pending approver, nothing to press for anyone else', () => {
    const v = view({ risk: { score: 30, level: 'medium', reasons: ['medium sensitivity'] } });
    expect(actions(approverMessage(v, 'bob', 'http://portal').blocks).map((a) => a.action_id)).toEqual([
      'approve',
      'deny',
      'open-portal',
    ]);
    expect(actions(approverMessage(v, 'erin', 'http://portal').blocks)).toEqual([]);
  });

  test('high and critical risk, or no risk assessed yet: only the portal link', () => {
    for (const risk of [{ score: 70, level: 'high' as const, reasons: [] }, undefined]) {
      const blocks = approverMessage(view({ risk }), 'bob', 'http://portal').blocks;
      expect(actions(blocks).map((a) => a.action_id)).toEqual(['open-portal']);
    }
  });

  test("a requester's text cannot ping a channel or hide a link", () => {
    const text = JSON.stringify(approverMessage(view({}), 'bob', 'http://portal').blocks);
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<https://evil');
    expect(text).toContain('&lt;!channel&gt;');
  });
});
