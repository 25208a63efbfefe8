import { durationMs, formatDuration, parseDuration } from '../../domain/duration';

describe('durations', () => {
  it('round-trips days, hours, minutes and seconds', () => {
    for (const text of ['P30D', 'PT4H', 'P1DT12H', 'PT1M30S']) expect(formatDuration(durationMs(text))).toBe(text);
  });

  it('formats zero as PT0S', () => {
    expect(formatDuration(0)).toBe('PT0S');
  });

  it('refuses what it cannot parse', () => {
    expect(parseDuration('P1M')).toBeUndefined();
    expect(parseDuration('PT')).toBeUndefined();
    expect(() => durationMs('1 day')).toThrow('invalid ISO-8601 duration "1 day"');
  });
});
