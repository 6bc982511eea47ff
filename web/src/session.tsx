import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { api } from './api';
import { WebMeDocument, type WebMeQuery } from './gql/graphql';

export type User = NonNullable<WebMeQuery['me']>;

interface Session {
  user: User | null;
  /** False until the stored token has been checked. */
  ready: boolean;
  signIn: (token: string, user: User) => void;
  signOut: () => void;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [ready, setReady] = useState(!api.signedIn);
  useEffect(
    () =>
      api.onSignedOut(() => {
        setUser(null);
      }),
    [],
  );
  useEffect(() => {
    if (!api.signedIn) return;
    api
      .request(WebMeDocument)
      .then((d) => setUser(d.me))
      .catch(() => api.setToken(null))
      .finally(() => setReady(true));
  }, []);
  const signIn = useCallback((token: string, u: User) => {
    api.setToken(token);
    setUser(u);
  }, []);
  const signOut = useCallback(() => {
    api.setToken(null);
    setUser(null);
  }, []);
  return <SessionContext.Provider value={{ user, ready, signIn, signOut }}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
