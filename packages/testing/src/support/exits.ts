import { Exit, Option } from "effect"

/** How an effect ended, in one word: `"success"`, `"defect"` (it died), or the `_tag` of its typed error. */
export const errorTag = (exit: Exit.Exit<unknown, { readonly _tag: string }>): string =>
  Exit.isSuccess(exit) ? "success" : Exit.hasDies(exit) ? "defect" : Option.getOrThrow(Exit.findErrorOption(exit))._tag
