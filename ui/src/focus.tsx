import { useEffect, useRef } from 'react';

/**
 * After each in-app navigation (not the first page load), focus moves to the new page's main
 * heading, so keyboard and screen-reader users start at the top of what changed.
 */
export function FocusOnNavigate({ path }: { path: string }) {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    let tries = 0;
    const focus = () => {
      const h = document.querySelector<HTMLElement>('main h1');
      if (!h) {
        if (tries++ < 20) timer = setTimeout(focus, 50);
        return;
      }
      h.tabIndex = -1;
      h.focus({ preventScroll: true });
    };
    let timer = setTimeout(focus, 0);
    return () => clearTimeout(timer);
  }, [path]);
  return null;
}
