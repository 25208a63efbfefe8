import { useQuery } from '@tanstack/react-query';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { api, unwrap } from '../api/client';
import { Loading, ProblemText, span } from '../components/common';

const percent = (v: number | null) => (v === null ? 0 : Math.round(v * 1000) / 10);
const minutes = (s: number | null) => (s === null ? 0 : Math.round((s / 60) * 10) / 10);

/** Each chart has a caption and a table twin: a chart alone says nothing to a screen reader. */
export function KpisPage() {
  const kpis = useQuery({ queryKey: ['kpis'], queryFn: () => unwrap(api.GET('/v1/kpis', {})) });
  const k = kpis.data;
  return (
    <>
      <h1 tabIndex={-1}>KPIs</h1>
      {kpis.isPending && <Loading what="the figures" />}
      <ProblemText error={kpis.error} />
      {k && (
        <>
          <p className="muted">
            Requests submitted from {new Date(k.from).toLocaleDateString()} to {new Date(k.to).toLocaleDateString()}:{' '}
            {k.counts.submitted} submitted, {k.counts.accepted} accepted, {k.counts.routed} routed to approvers.
          </p>
          <Chart
            title="Rates (%)"
            data={[
              { name: 'auto-approved', value: percent(k.rates.autoApproval) },
              { name: 'escalated', value: percent(k.rates.escalation) },
              { name: 'denied', value: percent(k.rates.denial) },
              { name: 'timed out', value: percent(k.rates.timedOut) },
            ]}
            series={[{ key: 'value', label: 'percent', color: '#1d4ed8' }]}
          />
          <Chart
            title="Time to decision and to access (minutes)"
            data={[
              {
                name: 'first decision',
                p50: minutes(k.timeToFirstDecision.p50),
                p90: minutes(k.timeToFirstDecision.p90),
              },
              { name: 'access', p50: minutes(k.timeToAccess.p50), p90: minutes(k.timeToAccess.p90) },
            ]}
            series={[
              { key: 'p50', label: 'median', color: '#1d4ed8' },
              { key: 'p90', label: '90th percentile', color: '#b45309' },
            ]}
          />
          <p className="small">
            Median time to a first decision:{' '}
            {k.timeToFirstDecision.p50 === null ? 'none yet' : span(k.timeToFirstDecision.p50 * 1000)}.
          </p>
          <Chart
            title="Backlog by resource (pending requests)"
            data={k.backlog.byResource.map((r) => ({ name: r.resource, pending: r.pending }))}
            series={[{ key: 'pending', label: 'pending', color: '#047857' }]}
          />
        </>
      )}
    </>
  );
}

type Row = { name: string } & Record<string, number | string>;

function Chart(props: { title: string; data: Row[]; series: { key: string; label: string; color: string }[] }) {
  const id = props.title.replace(/\W+/g, '-').toLowerCase();
  return (
    <figure className="card chart" aria-labelledby={id}>
      <figcaption id={id}>
        <h2>{props.title}</h2>
      </figcaption>
      {props.data.length === 0 ? (
        <p>Nothing to show.</p>
      ) : (
        <>
          <div aria-hidden="true" className="chart-box">
            <ResponsiveContainer width="100%" height={220}>
              <BarChart data={props.data} accessibilityLayer={false} margin={{ top: 8, right: 8, bottom: 8, left: 0 }}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="name" fontSize={12} />
                <YAxis fontSize={12} width={40} />
                <Tooltip />
                {props.series.length > 1 && <Legend />}
                {props.series.map((s) => (
                  <Bar key={s.key} dataKey={s.key} name={s.label} fill={s.color} isAnimationActive={false} />
                ))}
              </BarChart>
            </ResponsiveContainer>
          </div>
          <table className="small">
            <caption className="visually-hidden">{props.title}</caption>
            <thead>
              <tr>
                <th scope="col">What</th>
                {props.series.map((s) => (
                  <th scope="col" key={s.key}>
                    {s.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {props.data.map((row) => (
                <tr key={row.name}>
                  <th scope="row">{row.name}</th>
                  {props.series.map((s) => (
                    <td key={s.key}>{row[s.key]}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </figure>
  );
}
