// Small shared pieces: routing, async state, errors, bars.
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { ApiError } from './api.ts';

export function usePath(): [string, (to: string) => void] {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const on = () => setPath(location.pathname);
    addEventListener('popstate', on);
    return () => removeEventListener('popstate', on);
  }, []);
  const go = useCallback((to: string) => {
    history.pushState(null, '', to);
    setPath(to);
    scrollTo(0, 0);
  }, []);
  return [path, go];
}

/** An in-app link: a real <a href> (keyboard, middle-click) that navigates without a reload. */
export function Link({ to, go, children, className, current }: { to: string; go: (to: string) => void; children: ReactNode; className?: string; current?: boolean }) {
  return (
    <a
      href={to}
      className={className}
      aria-current={current ? 'page' : undefined}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        go(to);
      }}
    >
      {children}
    </a>
  );
}

export function message(err: unknown): string {
  return err instanceof ApiError || err instanceof Error ? err.message : String(err);
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {message(error)}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

/** Loads on mount and whenever deps change; reload() fetches again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { data: state.data, error: state.error, loading: state.loading, reload: () => setTick((t) => t + 1) };
}

/** A labelled bar for a 0..1 value. */
/**
 * The busy flag and error of one user action: `act(fn)` runs it, clearing the last error first and
 * keeping a new one to show (an ErrorBox), so a form never crashes on a failed request.
 */
export function useAction(): { busy: boolean; error: unknown; act: (fn: () => Promise<void>) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, act };
}

export function Bar({ label, value, kind, text }: { label: string; value: number; kind: string; text?: string }) {
  const pct = Math.max(0, Math.min(1, value)) * 100;
  return (
    <div className="bar-row">
      <span className="bar-label">{label}</span>
      <span className="bar" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={1} aria-valuenow={Number(value.toFixed(3))}>
        <span className={`bar-fill ${kind}`} style={{ width: `${pct}%` }} />
      </span>
      <span className="bar-value">{text ?? value.toFixed(3)}</span>
    </div>
  );
}

/** Determinate when value is a number (0..1), indeterminate when null. */
export function Progress({ value, label }: { value: number | null; label: string }) {
  return (
    <div className="progress-wrap">
      <progress aria-label={label} max={1} {...(value === null ? {} : { value })} />
      <span className="progress-label" aria-live="polite">
        {label}
      </span>
    </div>
  );
}

export function when(iso: string | null | undefined): string {
  if (!iso) return 'never';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** The value, once it has stayed the same for `ms` (filters and sliders re-run after a short pause). */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return settled;
}

/** An evaluation's mean score with its confidence interval: "0.72 (0.65–0.79)", or "—" before any item was scored. */
export function scoreText(mean: number | null, interval: { lower: number; upper: number } | null): string {
  if (mean === null) return '—';
  return interval ? `${mean.toFixed(2)} (${interval.lower.toFixed(2)}–${interval.upper.toFixed(2)})` : mean.toFixed(2);
}
