// Regions as the editor holds them (normalised 0..1 coordinates, one concept each) and their
// Clarifai JSON form (bounding_box top_row/left_col/bottom_row/right_col, polygon points row/col).

export type Point = [number, number]; // [x (col), y (row)], 0..1

export type Geometry =
  | { kind: "box"; left: number; top: number; right: number; bottom: number }
  | { kind: "polygon"; points: Point[] };

export interface Region {
  key: string;
  concept: string;
  geometry: Geometry;
  /** Review: whose version this region belongs to (drawn in that labeler's colour). */
  owner?: string;
  /** The region's id on the server: kept on submit, so a pre-label stays recognisable. */
  id?: string;
  /** A pre-label: the model that suggested it (`region.data.metadata.prelabel.model_id`). */
  model?: string;
  /** A pre-label: its concept and geometry as suggested, to tell whether the labeler changed it. */
  suggested?: string;
}

/** The part of a region a labeler can change, as a comparable string. */
export function fingerprint(r: Region): string {
  return JSON.stringify([r.concept, r.geometry]);
}

/** A pre-label the labeler has not changed (moved, resized, relabelled) yet. */
export function untouchedPrelabel(r: Region): boolean {
  return r.model !== undefined && r.suggested === fingerprint(r);
}

let counter = 0;
export function newKey(): string {
  counter += 1;
  return `r${Date.now().toString(36)}${counter}`;
}

const clamp = (v: number) => Math.min(1, Math.max(0, v));
const round = (v: number) => Math.round(clamp(v) * 1e6) / 1e6;

export function regionToJson(r: Region): Record<string, unknown> {
  const g = r.geometry;
  const regionInfo =
    g.kind === "box"
      ? {
          bounding_box: {
            top_row: round(g.top),
            left_col: round(g.left),
            bottom_row: round(g.bottom),
            right_col: round(g.right),
          },
        }
      : { polygon: { points: g.points.map(([x, y]) => ({ row: round(y), col: round(x) })) } };
  const data = r.concept ? { concepts: [{ id: r.concept, value: 1 }] } : {};
  return r.id ? { id: r.id, region_info: regionInfo, data } : { region_info: regionInfo, data };
}

export function regionsFromJson(regions: any[] | undefined, owner?: string): Region[] {
  const out: Region[] = [];
  for (const reg of regions ?? []) {
    const info = reg.region_info ?? {};
    const concept: string = reg.data?.concepts?.[0]?.id ?? "";
    const id: string | undefined = reg.id || undefined;
    let geometry: Geometry;
    if (info.bounding_box) {
      const b = info.bounding_box;
      geometry = { kind: "box", top: b.top_row ?? 0, left: b.left_col ?? 0, bottom: b.bottom_row ?? 0, right: b.right_col ?? 0 };
    } else if (info.polygon?.points?.length) {
      geometry = { kind: "polygon", points: info.polygon.points.map((p: any) => [p.col ?? 0, p.row ?? 0] as Point) };
    } else continue;
    out.push({ key: newKey(), concept, owner, id, geometry });
  }
  return out;
}

/** The pre-labels LABEL_START handed out with an input (regions marked with the model that made
 * them in `data.metadata.prelabel`), as editable regions. */
export function prelabelsFromJson(regions: any[] | undefined): Region[] {
  const marked = (regions ?? []).filter((r) => r.data?.metadata?.prelabel);
  return regionsFromJson(marked).map((r, n) => {
    const region = { ...r, model: String(marked[n].data.metadata.prelabel.model_id || "model") };
    return { ...region, suggested: fingerprint(region) };
  });
}

/** Regions of a video: one list per frame index. */
export type FrameRegions = Map<number, Region[]>;

export function framesToJson(frames: FrameRegions, sampleMs: number): Record<string, unknown>[] {
  return [...frames.entries()]
    .filter(([, regs]) => regs.length > 0)
    .sort(([a], [b]) => a - b)
    .map(([index, regs]) => ({
      frame_info: { index, time: index * sampleMs },
      data: { regions: regs.map(regionToJson) },
    }));
}

export function framesFromJson(frames: any[] | undefined, sampleMs: number, owner?: string): FrameRegions {
  const out: FrameRegions = new Map();
  for (const f of frames ?? []) {
    const info = f.frame_info ?? {};
    const index = info.index ?? (sampleMs > 0 ? Math.round((info.time ?? 0) / sampleMs) : 0);
    out.set(index, [...(out.get(index) ?? []), ...regionsFromJson(f.data?.regions, owner)]);
  }
  return out;
}

const PALETTE = [
  "#f97316", "#22c55e", "#3b82f6", "#e11d48", "#a855f7",
  "#eab308", "#14b8a6", "#ec4899", "#84cc16", "#06b6d4",
];

/** A stable colour per name (concept or labeler), in the order names were first seen. */
export function colourFor(names: string[], name: string): string {
  const i = names.indexOf(name);
  if (i >= 0) return PALETTE[i % PALETTE.length];
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}
