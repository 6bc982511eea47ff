import { useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api, describeError } from '../api';
import { WebSignInDocument, WebSignUpDocument } from '../gql/graphql';
import { navigate } from '../router';
import { useSession } from '../session';

export function SignInPage({ next, mode: initial }: { next: string; mode: 'signin' | 'signup' }) {
  const { signIn } = useSession();
  const [mode, setMode] = useState(initial);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFields({});
    try {
      const auth =
        mode === 'signup'
          ? (await api.request(WebSignUpDocument, { email, password, name })).signUp
          : (await api.request(WebSignInDocument, { email, password })).signIn;
      signIn(auth.token, auth.user);
      // Only our own paths: `next` comes from the address bar.
      navigate(next.startsWith('/') && !next.startsWith('//') ? next : '/', true);
    } catch (err) {
      if (err instanceof ApiError) setFields(err.fieldErrors());
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const field = (id: string, label: string, input: ReactNode) => (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {input}
      {fields[id] && (
        <p className="error field-error" id={`${id}-error`}>
          {fields[id]}
        </p>
      )}
    </div>
  );

  return (
    <section aria-labelledby="auth-title" className="narrow">
      <h1 id="auth-title">{mode === 'signup' ? 'Create an account' : 'Sign in'}</h1>
      <form onSubmit={(e) => void submit(e)} className="panel">
        {mode === 'signup' &&
          field(
            'name',
            'Name',
            <input id="name" autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} />,
          )}
        {field(
          'email',
          'E-mail',
          <input
            id="email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />,
        )}
        {field(
          'password',
          'Password',
          <input
            id="password"
            type="password"
            autoComplete={mode === 'signup' ? 'new-password' : 'current-password'}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />,
        )}
        <button type="submit" disabled={busy}>
          {mode === 'signup' ? 'Create account' : 'Sign in'}
        </button>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
      <p>
        {mode === 'signup' ? 'Already have an account? ' : 'New here? '}
        <button type="button" className="link" onClick={() => setMode(mode === 'signup' ? 'signin' : 'signup')}>
          {mode === 'signup' ? 'Sign in' : 'Create an account'}
        </button>
      </p>
    </section>
  );
}
