import { GraphQLError, type ValidationRule } from 'graphql';

const PASSWORD_FIELDS = new Set(['signIn', 'signUp']);

/**
 * A document may hold at most one `signIn` or `signUp` field, aliases and fragments included:
 * each costs a deliberately slow password hash, so one request must not run many of them (and so
 * slip many guesses past the per-attempt throttle, or slow every other sign-in down).
 */
export const oneSignInOrSignUpRule: ValidationRule = (context) => {
  const mutation = context.getSchema().getMutationType();
  let seen = 0;
  return {
    Field(node) {
      if (!PASSWORD_FIELDS.has(node.name.value) || context.getParentType() !== mutation) return;
      seen += 1;
      if (seen === 2) {
        context.reportError(
          new GraphQLError('A document may hold at most one signIn or signUp field (aliases included).', {
            nodes: node,
          }),
        );
      }
    },
  };
};
