// The API module's types, checked by `npm run typecheck` (tsc reads this file too): a command's
// arguments and answer are the generated command table's, and a wrong one does not compile.
import { describe, expectTypeOf, it } from "vitest";
import type { call } from "./api";
import type { ActionId } from "./bindings/ActionId";
import type { JobCard } from "./bindings/JobCard";
import type { JobDetail } from "./bindings/JobDetail";
import type { SaveGroupArgs } from "./bindings/SaveGroupArgs";

describe("call", () => {
  it("answers each command with its binding's type", () => {
    expectTypeOf<ReturnType<typeof call<"board">>>().toEqualTypeOf<Promise<JobCard[]>>();
    expectTypeOf<ReturnType<typeof call<"job">>>().toEqualTypeOf<Promise<JobDetail>>();
    expectTypeOf<ReturnType<typeof call<"new_action_id">>>().toEqualTypeOf<Promise<ActionId>>();
  });
  it("takes each command's own arguments and nothing else", () => {
    expectTypeOf<Parameters<typeof call<"save_group">>[1]>().toEqualTypeOf<SaveGroupArgs>();
    expectTypeOf<Parameters<typeof call<"job">>[1]>().toEqualTypeOf<{ job_id: string }>();
    // @ts-expect-error: a job is opened by its job id, not a customer's
    expectTypeOf<Parameters<typeof call<"job">>[1]>().toEqualTypeOf<{ customer_id: string }>();
    // @ts-expect-error: a command the command layer does not have
    expectTypeOf<typeof call<"delete_everything">>();
  });
});
