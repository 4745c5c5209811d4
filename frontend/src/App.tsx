import { useEffect } from "preact/hooks";
import { href, linkTo, navigate, useRoute, type Route } from "./router";
import { session, signOut } from "./session";
import { SignIn } from "./screens/SignIn";
import { MyWork } from "./screens/MyWork";
import { Label } from "./screens/Label";
import { Review } from "./screens/Review";
import { Stages } from "./screens/Stages";
import { Console } from "./console/Console";

export function App() {
  const route = useRoute();
  const who = session();
  useEffect(() => {
    if (!who && route.name !== "signin") navigate({ name: "signin" }, true);
  }, [who, route.name]);
  if (!who || route.name === "signin") return <SignIn />;
  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="/work" onClick={(e) => linkTo(e, "/work")}>
          labeldesk
        </a>
        <nav aria-label="Main">
          <NavLink route={{ name: "work" }} current={route} text="My work" />
          <NavLink route={{ name: "stages" }} current={route} text="My stage tasks" />
          <NavLink route={{ name: "console", path: [] }} current={route} text="Admin console" />
        </nav>
        <span class="who" title="Signed in">
          {who.userId}
        </span>
        <button
          class="ghost"
          type="button"
          onClick={() => {
            signOut();
            navigate({ name: "signin" });
          }}
        >
          Sign out
        </button>
      </header>
      <main class="content">{screen(route)}</main>
    </div>
  );
}

function NavLink({ route, current, text }: { route: Route; current: Route; text: string }) {
  const to = href(route);
  const active = current.name === route.name;
  return (
    <a href={to} aria-current={active ? "page" : undefined} onClick={(e) => linkTo(e, to)}>
      {text}
    </a>
  );
}

function screen(route: Route) {
  switch (route.name) {
    case "label":
      return <Label key={href(route)} owner={route.owner} app={route.app} task={route.task} />;
    case "review":
      return <Review key={href(route)} owner={route.owner} app={route.app} task={route.task} />;
    case "stages":
      return <Stages />;
    case "console":
      return <Console path={route.path} />;
    default:
      return <MyWork />;
  }
}
