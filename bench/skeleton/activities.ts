/** The skeleton's activities: empty bodies, so a skeleton request costs only what Temporal itself costs. */
export async function noop(_step: string): Promise<void> {}
