import { useEffect, useRef, type ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { signOut } from "../auth/session";
import { Link, usePath } from "./router";

const sections = [
  { to: "/integrations", label: "Integrations" },
  { to: "/bots", label: "Bots" },
];

export function Layout({ children }: { children: ReactNode }) {
  const path = usePath();
  const queryClient = useQueryClient();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  // After a navigation, keyboard and screen-reader users start at the new page's content.
  useEffect(() => {
    if (first.current) first.current = false;
    else main.current?.focus({ preventScroll: true });
  }, [path]);
  const account = useQuery({ queryKey: ["account"], queryFn: () => unwrap(api.GET("/v1/account")) });
  const leave = () => {
    queryClient.clear();
    signOut();
  };
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top-bar">
        <span className="brand">Bot platform</span>
        <nav aria-label="Main">
          <ul>
            {sections.map((section) => (
              <li key={section.to}>
                <Link to={section.to} aria-current={path.startsWith(section.to) ? "page" : undefined}>
                  {section.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span className="account muted">{account.data?.name}</span>
        <button type="button" className="button-small" onClick={leave}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1} ref={main}>
        {children}
      </main>
    </>
  );
}
