import { webApi } from '@slack/bolt';
import type { Config, Identity } from '../../domain';

/** What the Slack side of grantflow is configured with. */
export interface SlackSettings {
  botToken: string;
  signingSecret: string;
  /** Where the portal is reached, for the links in messages (high and critical risk are decided there). */
  portalUrl: string;
  /** Slack's Web API base; a local stand-in in tests. */
  apiUrl?: string;
}

export interface Slack {
  settings: SlackSettings;
  web: webApi.WebClient;
  /** The directory identity a Slack user is, by the email Slack holds for them; undefined when none matches. */
  identityOf(slackUser: string): Promise<Identity | undefined>;
  /** The Slack user for a directory identity, by its email; undefined when Slack knows no such person. */
  slackUserOf(userId: string): Promise<string | undefined>;
}

const CACHE_MS = 10 * 60_000;

/**
 * Identity is mapped by a directory attribute (the email both sides hold), looked up through Slack's Web API with
 * the bot token: never by the display name or anything else the interactive payload carries.
 */
export function createSlack(settings: SlackSettings, config: Config): Slack {
  const web = new webApi.WebClient(settings.botToken, {
    ...(settings.apiUrl && { slackApiUrl: settings.apiUrl }),
    retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2000 },
    logLevel: webApi.LogLevel.ERROR,
  });
  const byEmail = new Map(
    config.directory.users.filter((u) => u.email).map((u) => [(u.email as string).toLowerCase(), u] as const),
  );
  const toIdentity = new Map<string, { at: number; id?: string }>();
  const toSlack = new Map<string, { at: number; slack?: string }>();
  const fresh = (at: number) => Date.now() - at < CACHE_MS;

  return {
    settings,
    web,
    async identityOf(slackUser) {
      const hit = toIdentity.get(slackUser);
      if (hit && fresh(hit.at)) return hit.id ? config.users.get(hit.id) : undefined;
      let email: string | undefined;
      try {
        email = (await web.users.info({ user: slackUser })).user?.profile?.email?.toLowerCase();
      } catch (err) {
        // user_not_found is an answer (no such Slack user); anything else is worth another try later.
        if (slackError(err) !== 'user_not_found') throw err;
      }
      const identity = email ? byEmail.get(email) : undefined;
      toIdentity.set(slackUser, { at: Date.now(), id: identity?.id });
      return identity;
    },
    async slackUserOf(userId) {
      const hit = toSlack.get(userId);
      if (hit && fresh(hit.at)) return hit.slack;
      const email = config.users.get(userId)?.email;
      let slack: string | undefined;
      if (email) {
        try {
          slack = (await web.users.lookupByEmail({ email })).user?.id;
        } catch (err) {
          // users_not_found is an answer (this person is not on Slack); anything else is worth another try later.
          if (slackError(err) !== 'users_not_found') throw err;
        }
      }
      toSlack.set(userId, { at: Date.now(), slack });
      return slack;
    },
  };
}

function slackError(err: unknown): string | undefined {
  return (err as { data?: { error?: string } }).data?.error;
}
