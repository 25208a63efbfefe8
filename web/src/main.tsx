import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { App } from './App';
import { ApiProblem } from './api/client';
import './styles.css';

const queries = new QueryClient({
  defaultOptions: {
    // A refusal (4xx) will not change by asking again; only the API being unreachable or busy is worth a retry.
    queries: { retry: (count, err) => count < 2 && !(err instanceof ApiProblem && err.problem.status < 500) },
  },
});

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queries}>
        <App />
      </QueryClientProvider>
    </StrictMode>,
  );
}
