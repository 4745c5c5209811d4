// One page of an app's inputs and their total, for the console's grids: ListInputs + GetInputCount
// when nothing is filtered, else PostInputsSearches (a page) + PostInputsSearches only_count (the
// total). The server pages and counts in SQL, so page 2,000 of 100k inputs costs one page of rows.

import { api, appPath, query, type AppRef } from "../api";

export type Filter = Record<string, unknown>;

export async function inputsPage(ref: AppRef, filters: Filter[], page: number, perPage: number): Promise<any[]> {
  if (!filters.length) {
    const got = await api.get(appPath(ref, `/inputs${query({ page, per_page: perPage })}`));
    return got.inputs ?? [];
  }
  const got = await api.post(appPath(ref, "/inputs/searches"), {
    searches: [{ query: { filters } }],
    pagination: { page, per_page: perPage },
  });
  return (got.hits ?? []).map((h: any) => h.input);
}

export async function inputsTotal(ref: AppRef, filters: Filter[]): Promise<number> {
  if (!filters.length) {
    const got = await api.get(appPath(ref, "/inputs/status"));
    const c = got.counts ?? {};
    return Number(c.processed ?? 0) + Number(c.to_process ?? 0) + Number(c.processing ?? 0) + Number(c.errors ?? 0);
  }
  const got = await api.post(appPath(ref, "/inputs/searches"), { searches: [{ query: { filters } }], only_count: true });
  return Number(got.hit_counts?.[0]?.estimated_total ?? 0);
}

/** `annotation_info: {annotated: true}`: the input has an annotation a person made (labeldesk's filter). */
export const ANNOTATED = { annotated: true };

/** The image URL of an input's thumbnail (the hosted small size when there is one). */
export function thumb(input: any): string | undefined {
  const h = input.data?.image?.hosted;
  if (h?.prefix && h?.suffix) return `${h.prefix}/${h.sizes?.includes("small") ? "small" : "orig"}/${h.suffix}`;
  return input.data?.image?.url;
}

export type Live = <T>(apply: (value: T) => void) => (value: T) => void;

/** An effect whose ``live(apply)`` callbacks do nothing once a newer run of the effect started: a grid's
 * listing or total asked for an older filter may answer after the newest one, and must not win. */
export function newestOnly(run: (live: Live) => void): () => () => void {
  return () => {
    let current = true;
    run((apply) => (value) => {
      if (current) apply(value);
    });
    return () => {
      current = false;
    };
  };
}
