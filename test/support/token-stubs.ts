/** A replacement for one method of a token object's stub, or undefined to reach the real method. */
export type StubMethod = (...args: unknown[]) => unknown;

/**
 * `env` whose token objects are reached through a wrapper: `around(stub, name)` may return a function to
 * run instead of the stub's method `name` (undefined: the real one). Fault injection and ordering races
 * on the real namespace and real objects, never a hand-made binding.
 */
export function withTokenStubs(
  env: Env,
  around: (stub: DurableObjectStub, name: string | symbol) => StubMethod | undefined,
): Env {
  return {
    ...env,
    TOKEN_DO: new Proxy(env.TOKEN_DO, {
      get(target, prop) {
        if (prop !== "get") return Reflect.get(target, prop).bind(target);
        return (id: DurableObjectId) => {
          const stub = target.get(id);
          return new Proxy(stub, { get: (s, p) => around(s, p) ?? Reflect.get(s, p) });
        };
      },
    }),
  } as Env;
}

/** The stub's real method, called (Reflect.apply: on an RPC stub, `.apply` would be a remote property). */
export const callReal = (stub: DurableObjectStub, name: string | symbol, args: unknown[]): unknown =>
  Reflect.apply(Reflect.get(stub, name) as StubMethod, stub, args);
