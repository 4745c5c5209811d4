// The task form's state, and the Task JSON of the tasks API it maps to (both ways).

export interface TaskForm {
  existing: boolean;
  id: string;
  name: string;
  type: string;
  concepts: string[];
  source: string;
  sourceId: string;
  strategy: string;
  workers: string[];
  perInput: number;
  split: string;
  weights: Record<string, number>;
  review: string;
  reviewers: string[];
  sample: number;
  threshold: number;
  thresholdReviewers: number;
}

export function blankForm(): TaskForm {
  return {
    existing: false,
    id: "",
    name: "",
    type: "CONCEPTS_CLASSIFICATION",
    concepts: [],
    source: "ALL_INPUTS",
    sourceId: "",
    strategy: "FULL",
    workers: [],
    perInput: 1,
    split: "EVENLY",
    weights: {},
    review: "NONE",
    reviewers: [],
    sample: 100,
    threshold: 2,
    thresholdReviewers: 0,
  };
}

export function formOf(t: any): TaskForm {
  const w = t.worker ?? {};
  const r = t.review ?? {};
  const info = w.partitioned_strategy_info ?? {};
  return {
    ...blankForm(),
    existing: true,
    id: t.id,
    name: t.name ?? "",
    type: t.type ?? "CONCEPTS_CLASSIFICATION",
    concepts: t.concept_ids?.length ? t.concept_ids : (t.concepts ?? []).map((c: any) => c.concept?.id ?? c.id),
    source: t.input_source?.type ?? "ALL_INPUTS",
    sourceId: t.input_source?.id ?? "",
    strategy: w.strategy ?? "FULL",
    workers: w.user_ids ?? (w.users ?? []).map((u: any) => u.id),
    perInput: info.workers_per_input ?? 1,
    split: info.type === "WEIGHTED" ? "WEIGHTED" : "EVENLY",
    weights: info.weights ?? {},
    review: r.strategy ?? "NONE",
    reviewers: r.user_ids ?? (r.users ?? []).map((u: any) => u.id),
    sample: r.manual_strategy_info?.sample_percentage ?? 100,
    threshold: r.consensus_strategy_info?.approval_threshold_labelers ?? r.consensus_strategy_info?.approval_threshold ?? 2,
    thresholdReviewers: r.consensus_strategy_info?.approval_threshold_reviewers ?? 0,
  };
}

export function taskOf(f: TaskForm): Record<string, unknown> {
  const worker: Record<string, unknown> = { strategy: f.strategy, user_ids: f.workers };
  if (f.strategy === "PARTITIONED") {
    const info: Record<string, unknown> = { type: f.split, workers_per_input: f.perInput };
    if (f.split === "WEIGHTED") info.weights = Object.fromEntries(f.workers.map((w) => [w, f.weights[w] ?? 1]));
    worker.partitioned_strategy_info = info;
  } else if (f.strategy === "DYNAMIC") {
    worker.partitioned_strategy_info = { workers_per_input: f.perInput }; // DYNAMIC reads k from here too
  }
  const review: Record<string, unknown> = { strategy: f.review };
  if (f.review !== "NONE") review.user_ids = f.reviewers;
  if (f.review === "MANUAL") review.manual_strategy_info = { sample_percentage: f.sample };
  if (f.review === "CONSENSUS")
    review.consensus_strategy_info = {
      approval_threshold_labelers: f.threshold,
      approval_threshold_reviewers: f.thresholdReviewers,
    };
  const input_source: Record<string, unknown> = { type: f.source };
  if (f.source !== "ALL_INPUTS") input_source.id = f.sourceId;
  const task: Record<string, unknown> = {
    type: f.type,
    name: f.name,
    concept_ids: f.concepts,
    input_source,
    worker,
    review,
  };
  if (f.id) task.id = f.id;
  return task;
}

/** Which form field an API error is about, from the words of its description and details. */
export function fieldOf(text: string): string {
  const t = text.toLowerCase();
  const rules: [RegExp, string][] = [
    [/weight/, "weights"],
    [/workers_per_input/, "perInput"],
    [/sample_percentage|sample/, "sample"],
    [/threshold_reviewers/, "thresholdReviewers"],
    [/threshold/, "threshold"],
    [/review.*user|reviewer/, "reviewers"],
    [/review/, "review"],
    [/concept/, "concepts"],
    [/input_source|dataset|search/, "source"],
    [/worker|user/, "workers"],
    [/task type|\btype\b/, "type"],
    [/\bid\b/, "id"],
  ];
  return rules.find(([re]) => re.test(t))?.[1] ?? "form";
}
