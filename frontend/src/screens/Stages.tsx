export function Stages() {
  return <section class="page"><h1>My stage tasks</h1></section>;
}
