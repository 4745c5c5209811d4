// The drawing surface: an image (or a video frame) fitted into its box, zoom (wheel, +/-, 0 to fit)
// and pan (drag the background, or hold Space / use the middle button in a drawing tool), boxes
// (draw, move, resize, delete) and polygons (click points, close on the first point / double-click /
// Enter; drag vertices to edit). Konva does the canvas work; coordinates are kept normalised.

import Konva from "konva";
import { newKey, type Point, type Region } from "../regions";

export type Tool = "select" | "box" | "polygon";

export interface AnnotatorOptions {
  colour(region: Region): string;
  label(region: Region): string;
  onChange(regions: Region[]): void;
  onSelect(key: string | null): void;
  /** The concept a newly drawn region gets. */
  newConcept(): string;
  readOnly?: boolean;
  /** Regions drawn with a dashed outline (e.g. a model's pre-labels not yet changed). */
  dashed?(region: Region): boolean;
}

const MIN_DRAG_PX = 4;
const CLOSE_PX = 10;

export class Annotator {
  private stage: Konva.Stage;
  private layer = new Konva.Layer();
  private world = new Konva.Group();
  private picture = new Konva.Image({ image: undefined, listening: true });
  private shapes = new Konva.Group();
  private overlay = new Konva.Group();
  private transformer = new Konva.Transformer({
    rotateEnabled: false,
    keepRatio: false,
    ignoreStroke: true,
    anchorSize: 9,
    borderStroke: "#fff",
    anchorStroke: "#111",
    anchorFill: "#fff",
  });
  private regions: Region[] = [];
  private selected: string | null = null;
  private tool: Tool = "select";
  private imgW = 1;
  private imgH = 1;
  private drawing: { start: { x: number; y: number }; rect: Konva.Rect } | null = null;
  private poly: { points: Point[]; line: Konva.Line; dots: Konva.Group } | null = null;
  private spaceDown = false;
  private redrawOnUp = false;
  private resize: ResizeObserver;

  constructor(
    private container: HTMLDivElement,
    private opts: AnnotatorOptions,
  ) {
    this.stage = new Konva.Stage({
      container,
      width: container.clientWidth || 800,
      height: container.clientHeight || 600,
    });
    this.world.add(this.picture, this.shapes, this.overlay);
    this.layer.add(this.world, this.transformer);
    this.stage.add(this.layer);
    this.stage.on("wheel", (e) => this.onWheel(e));
    this.stage.on("mousedown touchstart", (e) => this.onDown(e));
    this.stage.on("mousemove touchmove", () => this.onMove());
    this.stage.on("mouseup touchend", () => this.onUp());
    this.stage.on("dblclick", () => this.onDoubleClick());
    this.stage.on("dragmove", () => this.publishView());
    this.transformer.on("transformend", () => this.commitTransform());
    this.resize = new ResizeObserver(() => this.onResize());
    this.resize.observe(container);
    window.addEventListener("keydown", this.onKeyDown);
    window.addEventListener("keyup", this.onKeyUp);
    this.setTool("select");
  }

  destroy(): void {
    this.resize.disconnect();
    window.removeEventListener("keydown", this.onKeyDown);
    window.removeEventListener("keyup", this.onKeyUp);
    this.stage.destroy();
  }

  // ------------------------------------------------------------------ content

  setImage(source: CanvasImageSource | null, width: number, height: number): void {
    this.picture.image(source ?? undefined);
    this.imgW = Math.max(1, width);
    this.imgH = Math.max(1, height);
    this.picture.size({ width: this.imgW, height: this.imgH });
    this.fit();
  }

  /** Redraw the picture (a video element after seeking). */
  refresh(): void {
    this.layer.batchDraw();
  }

  setRegions(regions: Region[], keepSelection = false): void {
    this.cancelPolygon();
    this.regions = regions.map((r) => ({ ...r }));
    if (!keepSelection || !this.regions.some((r) => r.key === this.selected)) this.selected = null;
    this.render();
  }

  getRegions(): Region[] {
    return this.regions.map((r) => ({ ...r }));
  }

  setTool(tool: Tool): void {
    this.cancelPolygon();
    this.tool = tool;
    this.stage.draggable(tool === "select");
    this.container.dataset.tool = tool;
    this.render();
  }

  getTool(): Tool {
    return this.tool;
  }

  select(key: string | null): void {
    this.selected = key;
    this.render();
    this.opts.onSelect(key);
  }

  deleteSelected(): boolean {
    if (!this.selected) return false;
    this.regions = this.regions.filter((r) => r.key !== this.selected);
    this.selected = null;
    this.render();
    this.opts.onSelect(null);
    this.opts.onChange(this.getRegions());
    return true;
  }

  isDrawingPolygon(): boolean {
    return this.poly !== null;
  }

  // ------------------------------------------------------------------ view

  fit(): void {
    const w = this.stage.width();
    const h = this.stage.height();
    const scale = Math.min(w / this.imgW, h / this.imgH) * 0.98;
    this.stage.scale({ x: scale, y: scale });
    this.stage.position({ x: (w - this.imgW * scale) / 2, y: (h - this.imgH * scale) / 2 });
    this.render();
  }

  zoom(factor: number, around?: { x: number; y: number }): void {
    const old = this.stage.scaleX();
    const fitScale = Math.min(this.stage.width() / this.imgW, this.stage.height() / this.imgH);
    const scale = Math.min(fitScale * 20, Math.max(fitScale * 0.25, old * factor));
    const p = around ?? { x: this.stage.width() / 2, y: this.stage.height() / 2 };
    const at = { x: (p.x - this.stage.x()) / old, y: (p.y - this.stage.y()) / old };
    this.stage.scale({ x: scale, y: scale });
    this.stage.position({ x: p.x - at.x * scale, y: p.y - at.y * scale });
    this.render();
  }

  /** The image's rectangle on screen (CSS px, relative to the container) — also in data-image-rect. */
  imageRect(): { left: number; top: number; width: number; height: number } {
    const s = this.stage.scaleX();
    return { left: this.stage.x(), top: this.stage.y(), width: this.imgW * s, height: this.imgH * s };
  }

  private publishView(): void {
    const r = this.imageRect();
    this.container.dataset.imageRect = [r.left, r.top, r.width, r.height].map((v) => v.toFixed(2)).join(",");
    this.container.dataset.zoom = (this.stage.scaleX() / Math.min(this.stage.width() / this.imgW, this.stage.height() / this.imgH)).toFixed(2);
  }

  private onResize(): void {
    const w = this.container.clientWidth;
    const h = this.container.clientHeight;
    if (!w || !h || (w === this.stage.width() && h === this.stage.height())) return;
    this.stage.size({ width: w, height: h });
    this.fit();
  }

  private onWheel(e: Konva.KonvaEventObject<WheelEvent>): void {
    e.evt.preventDefault();
    const p = this.stage.getPointerPosition() ?? undefined;
    this.zoom(e.evt.deltaY < 0 ? 1.15 : 1 / 1.15, p);
  }

  // ------------------------------------------------------------------ drawing

  /** Pointer in image pixels (clamped to the image). */
  private pointer(): { x: number; y: number } | null {
    const p = this.stage.getPointerPosition();
    if (!p) return null;
    const s = this.stage.scaleX();
    const x = (p.x - this.stage.x()) / s;
    const y = (p.y - this.stage.y()) / s;
    return { x: Math.min(this.imgW, Math.max(0, x)), y: Math.min(this.imgH, Math.max(0, y)) };
  }

  private onDown(e: Konva.KonvaEventObject<MouseEvent | TouchEvent>): void {
    if (this.opts.readOnly) return;
    const evt = e.evt as MouseEvent;
    const panning = this.spaceDown || evt.button === 1;
    if (this.tool === "select") {
      if (e.target === this.stage || e.target === this.picture) this.select(null);
      return;
    }
    if (panning) {
      this.stage.draggable(true);
      this.stage.startDrag();
      return;
    }
    if (evt.button !== undefined && evt.button !== 0) return;
    const p = this.pointer();
    if (!p) return;
    if (this.tool === "box") {
      const rect = new Konva.Rect({
        x: p.x,
        y: p.y,
        width: 0,
        height: 0,
        stroke: this.opts.colour({ key: "", concept: this.opts.newConcept(), geometry: { kind: "polygon", points: [] } }),
        strokeWidth: 2,
        dash: [6, 4],
        strokeScaleEnabled: false,
        listening: false,
      });
      this.overlay.add(rect);
      this.drawing = { start: p, rect };
    } else if (this.tool === "polygon") {
      this.addPolygonPoint(p);
    }
  }

  private onMove(): void {
    const p = this.pointer();
    if (!p) return;
    if (this.drawing) {
      const { start, rect } = this.drawing;
      rect.position({ x: Math.min(start.x, p.x), y: Math.min(start.y, p.y) });
      rect.size({ width: Math.abs(p.x - start.x), height: Math.abs(p.y - start.y) });
      this.layer.batchDraw();
    } else if (this.poly) {
      const pts = [...this.poly.points.flatMap(([x, y]) => [x * this.imgW, y * this.imgH]), p.x, p.y];
      this.poly.line.points(pts);
      this.layer.batchDraw();
    }
  }

  private onUp(): void {
    if (this.redrawOnUp) {
      // after Konva's dragend (which saves a move and redraws itself)
      this.redrawOnUp = false;
      setTimeout(() => this.render(), 0);
    }
    if (this.tool !== "select" && this.stage.isDragging()) {
      this.stage.stopDrag();
      this.stage.draggable(false);
      this.publishView();
      return;
    }
    if (!this.drawing) return;
    const { rect } = this.drawing;
    this.drawing = null;
    rect.destroy();
    const s = this.stage.scaleX();
    if (rect.width() * s < MIN_DRAG_PX || rect.height() * s < MIN_DRAG_PX) {
      this.layer.batchDraw();
      return;
    }
    this.addRegion({
      kind: "box",
      left: rect.x() / this.imgW,
      top: rect.y() / this.imgH,
      right: (rect.x() + rect.width()) / this.imgW,
      bottom: (rect.y() + rect.height()) / this.imgH,
    });
  }

  private addPolygonPoint(p: { x: number; y: number }): void {
    const norm: Point = [p.x / this.imgW, p.y / this.imgH];
    if (!this.poly) {
      const colour = this.opts.colour({ key: "", concept: this.opts.newConcept(), geometry: { kind: "polygon", points: [] } });
      const line = new Konva.Line({ points: [], stroke: colour, strokeWidth: 2, strokeScaleEnabled: false, listening: false, dash: [6, 4] });
      const dots = new Konva.Group({ listening: false });
      this.overlay.add(line, dots);
      this.poly = { points: [], line, dots };
    }
    const first = this.poly.points[0];
    if (first && this.poly.points.length >= 3) {
      const s = this.stage.scaleX();
      const dx = (first[0] * this.imgW - p.x) * s;
      const dy = (first[1] * this.imgH - p.y) * s;
      if (Math.hypot(dx, dy) <= CLOSE_PX) {
        this.closePolygon();
        return;
      }
    }
    this.poly.points.push(norm);
    this.poly.dots.add(
      new Konva.Circle({
        x: p.x,
        y: p.y,
        radius: 4 / this.stage.scaleX(),
        fill: this.poly.points.length === 1 ? "#fff" : (this.poly.line.stroke() as string),
        stroke: "#111",
        strokeWidth: 1,
        strokeScaleEnabled: false,
      }),
    );
    this.onMove();
  }

  /** A double-click closes a polygon — only a real one (two clicks on one spot), not two quick
   * clicks on different points. */
  private onDoubleClick(): void {
    const pts = this.poly?.points ?? [];
    const [a, b] = pts.slice(-2);
    if (!a || !b) return;
    const s = this.stage.scaleX();
    if (Math.hypot((a[0] - b[0]) * this.imgW * s, (a[1] - b[1]) * this.imgH * s) <= CLOSE_PX) this.closePolygon();
  }

  /** Finish the polygon being drawn (needs 3 points); true if one was finished. */
  closePolygon(): boolean {
    if (!this.poly) return false;
    // a double-click also lands two clicks on (nearly) the same spot: drop the repeats
    const s = this.stage.scaleX();
    const apart = (p: Point, q: Point) => Math.hypot((p[0] - q[0]) * this.imgW * s, (p[1] - q[1]) * this.imgH * s) > 3;
    const pts = this.poly.points.filter((p, i, all) => i === 0 || apart(p, all[i - 1]));
    if (pts.length < 3) return false;
    this.cancelPolygon();
    this.addRegion({ kind: "polygon", points: pts });
    return true;
  }

  cancelPolygon(): void {
    if (!this.poly) return;
    this.poly.line.destroy();
    this.poly.dots.destroy();
    this.poly = null;
    this.layer.batchDraw();
  }

  private addRegion(geometry: Region["geometry"]): void {
    const region: Region = { key: newKey(), concept: this.opts.newConcept(), geometry };
    this.regions.push(region);
    this.selected = region.key;
    this.render();
    this.opts.onSelect(region.key);
    this.opts.onChange(this.getRegions());
  }

  private update(key: string, geometry: Region["geometry"]): void {
    this.regions = this.regions.map((r) => (r.key === key ? { ...r, geometry } : r));
    this.render();
    this.opts.onChange(this.getRegions());
  }

  private commitTransform(): void {
    const node = this.transformer.nodes()[0];
    if (!(node instanceof Konva.Rect)) return;
    const key = node.name();
    const x = node.x();
    const y = node.y();
    const w = node.width() * node.scaleX();
    const h = node.height() * node.scaleY();
    node.scale({ x: 1, y: 1 });
    this.update(key, this.boxOf(x, y, w, h));
  }

  private boxOf(x: number, y: number, w: number, h: number): Region["geometry"] {
    const c = (v: number) => Math.min(1, Math.max(0, v));
    return { kind: "box", left: c(x / this.imgW), top: c(y / this.imgH), right: c((x + w) / this.imgW), bottom: c((y + h) / this.imgH) };
  }

  // ------------------------------------------------------------------ rendering

  private render(): void {
    this.shapes.destroyChildren();
    this.transformer.nodes([]);
    const listening = this.tool === "select" && !this.opts.readOnly;
    const s = this.stage.scaleX();
    for (const region of this.regions) {
      const colour = this.opts.colour(region);
      const isSel = region.key === this.selected;
      const g = region.geometry;
      const common = {
        name: region.key,
        stroke: colour,
        strokeWidth: isSel ? 3 : 2,
        strokeScaleEnabled: false,
        fill: colour + (isSel ? "40" : "22"),
        dash: this.opts.dashed?.(region) ? [8, 5] : undefined,
        listening,
        draggable: listening,
      };
      let shape: Konva.Shape;
      let labelAt: { x: number; y: number };
      if (g.kind === "box") {
        shape = new Konva.Rect({
          ...common,
          x: g.left * this.imgW,
          y: g.top * this.imgH,
          width: (g.right - g.left) * this.imgW,
          height: (g.bottom - g.top) * this.imgH,
        });
        shape.on("dragend", () => {
          const r = shape as Konva.Rect;
          this.update(region.key, this.clampBox(r.x(), r.y(), r.width(), r.height()));
        });
        labelAt = { x: g.left * this.imgW, y: g.top * this.imgH };
      } else {
        shape = new Konva.Line({
          ...common,
          points: g.points.flatMap(([x, y]) => [x * this.imgW, y * this.imgH]),
          closed: true,
        });
        shape.on("dragend", () => {
          const dx = shape.x() / this.imgW;
          const dy = shape.y() / this.imgH;
          this.update(region.key, { kind: "polygon", points: g.points.map(([x, y]) => [Math.min(1, Math.max(0, x + dx)), Math.min(1, Math.max(0, y + dy))] as Point) });
        });
        const top = g.points.reduce((a, b) => (b[1] < a[1] ? b : a), g.points[0]);
        labelAt = { x: top[0] * this.imgW, y: top[1] * this.imgH };
      }
      shape.on("mousedown touchstart", (e) => {
        e.cancelBubble = true;
        if (this.selected === region.key) return;
        // Select without rebuilding the shapes: this one may be about to be dragged. The full
        // redraw (selection style, vertex handles) follows on mouse up.
        this.selected = region.key;
        this.transformer.nodes(g.kind === "box" ? [shape] : []);
        this.redrawOnUp = true;
        this.opts.onSelect(region.key);
      });
      this.shapes.add(shape);
      const text = this.opts.label(region);
      if (text) {
        const tag = new Konva.Label({ x: labelAt.x, y: labelAt.y, listening: false, scaleX: 1 / s, scaleY: 1 / s });
        tag.add(new Konva.Tag({ fill: colour, cornerRadius: 2, pointerDirection: "down", pointerWidth: 0, pointerHeight: 0 }));
        tag.add(new Konva.Text({ text, fontSize: 12, padding: 3, fill: inkOn(colour), fontFamily: "system-ui, sans-serif" }));
        tag.offsetY(18);
        this.shapes.add(tag);
        const x0 = shape.x();
        const y0 = shape.y();
        shape.on("dragmove", () => tag.position({ x: labelAt.x + shape.x() - x0, y: labelAt.y + shape.y() - y0 }));
      }
      if (isSel && listening) {
        if (g.kind === "box") this.transformer.nodes([shape]);
        else this.vertexHandles(region.key, g.points, colour);
      }
    }
    this.transformer.moveToTop();
    this.publishView();
    this.layer.batchDraw();
  }

  private clampBox(x: number, y: number, w: number, h: number): Region["geometry"] {
    const cx = Math.min(this.imgW - w, Math.max(0, x));
    const cy = Math.min(this.imgH - h, Math.max(0, y));
    return this.boxOf(cx, cy, w, h);
  }

  private vertexHandles(key: string, points: Point[], colour: string): void {
    const s = this.stage.scaleX();
    points.forEach(([x, y], i) => {
      const dot = new Konva.Circle({
        x: x * this.imgW,
        y: y * this.imgH,
        radius: 6 / s,
        fill: "#fff",
        stroke: colour,
        strokeWidth: 2,
        strokeScaleEnabled: false,
        draggable: true,
        name: `${key}-v${i}`,
      });
      dot.on("mousedown touchstart", (e) => {
        e.cancelBubble = true;
      });
      dot.on("dragend", () => {
        const next = points.map((p, j) => (j === i ? ([Math.min(1, Math.max(0, dot.x() / this.imgW)), Math.min(1, Math.max(0, dot.y() / this.imgH))] as Point) : p));
        this.update(key, { kind: "polygon", points: next });
      });
      // Alt+click removes a vertex (a polygon keeps at least three)
      dot.on("click", (e) => {
        if (!(e.evt as MouseEvent).altKey || points.length <= 3) return;
        this.update(key, { kind: "polygon", points: points.filter((_, j) => j !== i) });
      });
      this.shapes.add(dot);
    });
  }

  // ------------------------------------------------------------------ keys handled by the surface

  private onKeyDown = (e: KeyboardEvent): void => {
    if (isTyping(e)) return;
    if (e.key === " ") {
      this.spaceDown = true;
      if (e.target === document.body) e.preventDefault();
    }
  };

  private onKeyUp = (e: KeyboardEvent): void => {
    if (e.key === " ") this.spaceDown = false;
  };
}

/** True when a key press belongs to a text field, not to the shortcuts. */
export function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  const tag = t.tagName;
  return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && !["checkbox", "radio", "button"].includes((t as HTMLInputElement).type)) || t.isContentEditable;
}

/** Black or white text, whichever reads better on a #rrggbb background. */
function inkOn(hex: string): string {
  const n = parseInt(hex.slice(1, 7), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111" : "#fff";
}
