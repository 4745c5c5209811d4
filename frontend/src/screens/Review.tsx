export function Review(_props: { owner: string; app: string; task: string }) {
  return <section class="page"><h1>Review</h1></section>;
}
