// A tiny history router. The server answers index.html for these prefixes
// (src/labeldesk/transport/rest/web.py CLIENT_PREFIXES): keep both in step.

import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "signin" }
  | { name: "work" }
  | { name: "label"; owner: string; app: string; task: string }
  | { name: "review"; owner: string; app: string; task: string }
  | { name: "stages" }
  | { name: "console"; path: string[] };

export function parse(pathname: string): Route {
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const [head, owner, app, task] = parts;
  if ((head === "label" || head === "review") && owner && app && task) return { name: head, owner, app, task };
  if (head === "signin") return { name: "signin" };
  if (head === "stages") return { name: "stages" };
  if (head === "console") return { name: "console", path: parts.slice(1) };
  return { name: "work" };
}

export function href(r: Route): string {
  const e = encodeURIComponent;
  switch (r.name) {
    case "label":
    case "review":
      return `/${r.name}/${e(r.owner)}/${e(r.app)}/${e(r.task)}`;
    case "console":
      return ["/console", ...r.path.map(e)].join("/");
    default:
      return `/${r.name}`;
  }
}

const listeners = new Set<() => void>();

export function navigate(to: string | Route, replace = false): void {
  const url = typeof to === "string" ? to : href(to);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listeners.forEach((f) => f());
}

window.addEventListener("popstate", () => listeners.forEach((f) => f()));

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.pathname));
  useEffect(() => {
    const f = () => setRoute(parse(location.pathname));
    listeners.add(f);
    return () => void listeners.delete(f);
  }, []);
  return route;
}

/** Click handler for in-app links: keeps ctrl/middle click opening a new tab. */
export function linkTo(e: MouseEvent, to: string): void {
  if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(to);
}
