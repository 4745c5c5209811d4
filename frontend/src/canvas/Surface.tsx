import { useEffect, useRef } from "preact/hooks";
import type { Media } from "../media";
import type { Region } from "../regions";
import { Annotator, type AnnotatorOptions } from "./annotator";

/** A Konva annotator in a div; the parent gets the instance through `onReady`. */
export function Surface(props: {
  media: Media | null;
  regions: Region[];
  options: AnnotatorOptions;
  onReady?(a: Annotator): void;
  label: string;
  /** Bumped by the parent to push `regions` into the editor (a new item, frame or undo). */
  version: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const inst = useRef<Annotator | null>(null);
  const opts = useRef(props.options);
  opts.current = props.options;

  useEffect(() => {
    const a = new Annotator(box.current!, {
      colour: (r) => opts.current.colour(r),
      label: (r) => opts.current.label(r),
      onChange: (r) => opts.current.onChange(r),
      onSelect: (k) => opts.current.onSelect(k),
      newConcept: () => opts.current.newConcept(),
      readOnly: props.options.readOnly,
      dashed: (r) => opts.current.dashed?.(r) ?? false,
    });
    inst.current = a;
    props.onReady?.(a);
    return () => a.destroy();
  }, []);

  useEffect(() => {
    const a = inst.current!;
    const m = props.media;
    if (m && (m.kind === "image" || m.kind === "video")) a.setImage(m.el, m.width, m.height);
    else a.setImage(null, 1, 1);
  }, [props.media]);

  useEffect(() => {
    inst.current!.setRegions(props.regions);
  }, [props.version, props.media]);

  return <div class="surface" ref={box} role="img" aria-label={props.label} tabIndex={-1} />;
}
