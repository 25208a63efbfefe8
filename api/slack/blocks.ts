import type { RequestView } from '../../workflows/messages';

/** Decisions in Slack only for these risk levels; higher risk is decided in the portal, with the whole picture. */
export const CHAT_DECIDABLE = new Set(['low', 'medium']);

export const APPROVE = 'approve';
export const DENY = 'deny';
export const OPEN_PORTAL = 'open-portal';

type Block = Record<string, unknown>;

/** Requesters write justifications: `<!channel>` or `<https://…|click>` in one must stay plain text. */
export function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

export function portalLink(portalUrl: string, requestId: string): string {
  return `${portalUrl.replace(/\/$/, '')}/#/requests/${encodeURIComponent(requestId)}`;
}

/** The one message an approver gets for a request, as it stands now: buttons only while they can still decide. */
export function approverMessage(
  view: RequestView,
  approver: string,
  portalUrl: string,
): { text: string; blocks: Block[] } {
  const who = view.beneficiary === view.requester ? view.requester : `${view.requester} (for ${view.beneficiary})`;
  const text = `${who} asks for ${view.entitlement}: ${view.status.replace(/_/g, ' ')}`;
  const risk = view.risk;
  const blocks: Block[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*${escape(who)}* asks for *${escape(view.entitlement)}*\n>${escape(view.justification)}`,
      },
    },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: escape(
            [
              `Status: ${view.status.replace(/_/g, ' ')}`,
              risk ? `risk ${risk.level}${risk.reasons.length ? ` (${risk.reasons.join('; ')})` : ''}` : '',
              view.grant && view.status === 'active' ? `access until ${view.grant.expiresAt}` : '',
            ]
              .filter(Boolean)
              .join(' · '),
          ),
        },
      ],
    },
  ];
  const decisions = [...view.stages, ...(view.extension?.stages ?? [])].flatMap((s) => s.decisions);
  if (decisions.length > 0) {
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: escape(
            decisions.map((d) => `${d.approver} ${d.decision === 'approve' ? 'approved' : 'denied'}`).join(', '),
          ),
        },
      ],
    });
  }
  const link = portalLink(portalUrl, view.id);
  if (view.pendingApprovers.includes(approver)) {
    const decidable = risk !== undefined && CHAT_DECIDABLE.has(risk.level);
    blocks.push({
      type: 'actions',
      block_id: `decide:${view.id}`,
      elements: decidable
        ? [
            button(APPROVE, 'Approve', view.id, 'primary'),
            button(DENY, 'Deny', view.id, 'danger'),
            {
              type: 'button',
              action_id: OPEN_PORTAL,
              text: { type: 'plain_text', text: 'Open in the portal' },
              url: link,
            },
          ]
        : [
            {
              type: 'button',
              action_id: OPEN_PORTAL,
              text: { type: 'plain_text', text: `Decide in the portal (${risk?.level ?? 'unassessed'} risk)` },
              url: link,
              style: 'primary',
            },
          ],
    });
  } else {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Nothing waits on you here. <${link}|View in the portal>` }],
    });
  }
  return { text, blocks };
}

function button(actionId: string, label: string, requestId: string, style: 'primary' | 'danger'): Block {
  return { type: 'button', action_id: actionId, text: { type: 'plain_text', text: label }, value: requestId, style };
}
