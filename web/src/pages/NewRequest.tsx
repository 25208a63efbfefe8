import { useEffect, useMemo, useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { api, ApiProblem, unwrap, type Entitlement, type Preview, type RequestInput } from '../api/client';
import { Badge, Loading, ProblemText, readableDuration, span } from '../components/common';
import { go } from '../route';
import { useCatalog } from './Catalog';

const DURATIONS = ['PT2M', 'PT1H', 'PT8H', 'P1D', 'P7D', 'P30D', 'P90D'];
const MIN_JUSTIFICATION = 10;

export function NewRequestPage({ entitlementId }: { entitlementId: string }) {
  const catalog = useCatalog();
  const entitlement = catalog.data?.resources.flatMap((r) => r.entitlements).find((e) => e.id === entitlementId);
  if (catalog.isPending) return <Loading what="the catalog" />;
  if (!entitlement) {
    return (
      <>
        <h1 tabIndex={-1}>New request</h1>
        <ProblemText error={catalog.error ?? new Error(`${entitlementId} is not in the catalog.`)} />
      </>
    );
  }
  return <RequestForm key={entitlement.id} entitlement={entitlement} />;
}

function RequestForm({ entitlement }: { entitlement: Entitlement }) {
  const [justification, setJustification] = useState('');
  const [duration, setDuration] = useState(entitlement.defaultDuration);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [breakGlass, setBreakGlass] = useState(false);
  const [confirming, setConfirming] = useState(false);
  // Inline errors appear once a field has been left (or on submit), not while the form is still blank.
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const touch = (name: string) => setTouched((t) => new Set(t).add(name));
  const shown = (name: string) => (touched.has(name) || touched.has('*') ? errors[name] : undefined);
  // One key per form: a double click or a retried POST creates one request.
  const [idempotencyKey] = useState(() => crypto.randomUUID());

  const errors = useMemo(() => {
    const found: Record<string, string> = {};
    if (justification.trim().length < MIN_JUSTIFICATION) {
      found.justification = `Say why, in at least ${MIN_JUSTIFICATION} characters.`;
    }
    for (const f of entitlement.fields) {
      const value = fields[f.name] ?? '';
      if (f.required && !value) found[f.name] = `${f.label} is required.`;
      else if (value && f.pattern && !new RegExp(f.pattern).test(value)) {
        found[f.name] = `${f.label} must match ${f.pattern}.`;
      }
    }
    return found;
  }, [justification, fields, entitlement]);

  const input: RequestInput = {
    entitlement: entitlement.id,
    justification: justification.trim(),
    ...(!breakGlass && { duration }),
    fields: Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== '')),
    breakGlass,
  };
  const complete = Object.keys(errors).length === 0;
  const preview = usePreview(input, complete);
  const submit = useMutation({
    mutationFn: () =>
      unwrap(api.POST('/v1/requests', { body: input, params: { header: { 'Idempotency-Key': idempotencyKey } } })),
    onSuccess: (view) => go({ page: 'request', id: view.id }),
  });
  const serverErrors = new Map(
    (submit.error instanceof ApiProblem ? submit.error.fieldErrors : []).map((e) => [e.field, e.message]),
  );
  const review = preview.data?.plan?.kind === 'break-glass' ? preview.data.plan.stages[0] : undefined;

  const onSubmit = (e: React.FormEvent) => {
    e.preventDefault();
    touch('*');
    if (!complete) return;
    if (breakGlass && !confirming) setConfirming(true);
    else submit.mutate();
  };

  return (
    <>
      <h1 tabIndex={-1}>
        Request <code>{entitlement.id}</code>
      </h1>
      <p>
        {entitlement.name} · <Badge kind="sensitivity" value={entitlement.sensitivity} />
        {entitlement.privileged && ' · privileged'}
      </p>
      <div className="split">
        <form onSubmit={onSubmit} noValidate aria-label="Request details">
          <Field
            id="justification"
            label="Justification"
            error={shown('justification') ?? serverErrors.get('justification')}
          >
            <textarea
              id="justification"
              rows={3}
              value={justification}
              onChange={(e) => setJustification(e.target.value)}
              onBlur={() => touch('justification')}
              aria-invalid={Boolean(shown('justification'))}
              aria-describedby="justification-error"
              required
            />
          </Field>
          {entitlement.fields.map((f) => (
            <Field
              key={f.name}
              id={`field-${f.name}`}
              label={`${f.label}${f.required ? '' : ' (optional)'}`}
              error={shown(f.name) ?? serverErrors.get(`fields.${f.name}`)}
            >
              <input
                id={`field-${f.name}`}
                value={fields[f.name] ?? ''}
                onChange={(e) => setFields({ ...fields, [f.name]: e.target.value })}
                onBlur={() => touch(f.name)}
                aria-invalid={Boolean(shown(f.name))}
                aria-describedby={`field-${f.name}-error`}
                required={f.required}
              />
            </Field>
          ))}
          {!breakGlass && (
            <Field id="duration" label="For how long" error={serverErrors.get('duration')}>
              <select id="duration" value={duration} onChange={(e) => setDuration(e.target.value)}>
                {[...new Set([entitlement.defaultDuration, ...DURATIONS])].map((d) => (
                  <option key={d} value={d}>
                    {readableDuration(d)}
                  </option>
                ))}
              </select>
            </Field>
          )}
          {entitlement.breakGlass && (
            <label className="check">
              <input
                type="checkbox"
                checked={breakGlass}
                onChange={(e) => (setBreakGlass(e.target.checked), setConfirming(false))}
              />
              Break-glass: access at once, for at most {readableDuration(entitlement.breakGlass.ttl)}, reviewed after
            </label>
          )}
          {confirming && (
            <div role="alertdialog" aria-labelledby="bg-title" aria-describedby="bg-text" className="confirm">
              <h2 id="bg-title">Invoke break-glass?</h2>
              <p id="bg-text">
                You get {entitlement.id} now without approval. This opens a post-incident review
                {review
                  ? ` by ${review.approvers.map((a) => a.name).join(', ')} (${review.quorum}), due within ${readableDuration(review.deadline)}, and security is alerted.`
                  : ' (finding out who reviews it…).'}
              </p>
              {/* Nobody confirms a review they have not been told about: wait for the preview to name it. */}
              <button type="submit" className="danger" disabled={!review}>
                Yes, invoke break-glass
              </button>{' '}
              <button type="button" onClick={() => setConfirming(false)}>
                Go back
              </button>
            </div>
          )}
          {!confirming && (
            <button type="submit" disabled={submit.isPending || preview.data?.valid === false}>
              {submit.isPending ? 'Submitting…' : breakGlass ? 'Invoke break-glass…' : 'Submit request'}
            </button>
          )}
          <ProblemText error={submit.error} />
        </form>
        <PreviewPanel
          preview={preview.data}
          error={preview.error}
          pending={complete && preview.isFetching}
          ready={complete}
        />
      </div>
    </>
  );
}

function Field(props: { id: string; label: string; error?: string; children: React.ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      {props.children}
      <span id={`${props.id}-error`} className="error" aria-live="polite">
        {props.error ?? ''}
      </span>
    </div>
  );
}

/** Asks the API's preview (the same policy code a submission runs) once the form has been still for a moment. */
function usePreview(input: RequestInput, enabled: boolean) {
  const key = JSON.stringify(input);
  const [settled, setSettled] = useState(key);
  useEffect(() => {
    const t = setTimeout(() => setSettled(key), 400);
    return () => clearTimeout(t);
  }, [key]);
  return useQuery({
    queryKey: ['preview', settled],
    queryFn: () => unwrap(api.POST('/v1/requests/preview', { body: JSON.parse(settled) as RequestInput })),
    enabled: enabled && settled === key,
    staleTime: 30_000,
  });
}

function PreviewPanel(props: { preview?: Preview; error: unknown; pending: boolean; ready: boolean }) {
  const { preview } = props;
  const kpis = useQuery({
    queryKey: ['kpis'],
    queryFn: () => unwrap(api.GET('/v1/kpis', {})),
    retry: false,
    staleTime: 60_000,
  });
  return (
    <section className="card preview" aria-labelledby="preview-title" aria-live="polite" data-testid="preview">
      <h2 id="preview-title">Preview: who would approve this and why</h2>
      {!props.ready && <p className="muted">Fill in the form to see the approval plan.</p>}
      {props.pending && !preview && <p role="status">Asking the policy…</p>}
      <ProblemText error={props.error} />
      {preview && !preview.valid && (
        <ul className="problem">
          {preview.reasons.map((r) => (
            <li key={r.code + r.message}>{r.message}</li>
          ))}
        </ul>
      )}
      {preview?.risk && (
        <>
          <p>
            Risk <Badge kind="risk" value={preview.risk.level} /> (score {preview.risk.score})
          </p>
          {preview.risk.reasons.length > 0 && (
            <ul aria-label="Risk reasons">
              {preview.risk.reasons.map((r) => (
                <li key={r}>{r}</li>
              ))}
            </ul>
          )}
        </>
      )}
      {preview?.plan && (
        <>
          <p>
            Plan: <strong>{preview.plan.kind === 'auto-approve' ? 'approved automatically' : preview.plan.kind}</strong>{' '}
            <span className="muted">
              (rule {preview.plan.rule}, policy {preview.policyVersion})
            </span>
          </p>
          <ol className="stages">
            {preview.plan.stages.map((s) => (
              <li key={s.name}>
                <strong>{s.name}</strong>: {s.approvers.map((a) => `${a.name} (${a.id})`).join(', ')}
                <span className="muted">
                  {' '}
                  · {s.quorum === 'all' ? 'all must approve' : `${s.required} of them`} · decided within{' '}
                  {readableDuration(s.deadline)}
                  {s.escalateAfter && `, escalates after ${readableDuration(s.escalateAfter)}`}
                </span>
              </li>
            ))}
          </ol>
        </>
      )}
      {preview?.grant && (
        <p>
          Access for {preview.grant.beneficiary}, {readableDuration(preview.grant.duration)} from provisioning (through{' '}
          {preview.grant.connector}).
        </p>
      )}
      {preview?.plan?.kind === 'stages' && (
        <p data-testid="expected-time">
          Expected time to a first decision:{' '}
          {kpis.data?.timeToFirstDecision.p50 != null
            ? `about ${span(kpis.data.timeToFirstDecision.p50 * 1000)} (median of the last 30 days)`
            : 'no figures you may see yet; the plan above gives the deadline'}
          .
        </p>
      )}
    </section>
  );
}
