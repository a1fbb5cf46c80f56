/**
 * Text on its way to a terminal. What the CLI prints from the state (a session's label, its
 * subject) was written by someone else: a control character in it is a command to the terminal
 * (ANSI colours, cursor moves, OSC 52 writing the clipboard) and a bidirectional override makes a
 * line read differently from what it is. So every such character is printed as a visible escape.
 */
import { ClientMetadata } from "@gatehouse-auth/core"

const hex = (codePoint: number, digits: number) => codePoint.toString(16).toUpperCase().padStart(digits, "0")

const unsafe = new RegExp(`${ClientMetadata.controlCharacters.source}|\\\\`, "gu")

/**
 * `text` with every control or bidirectional character (`ClientMetadata.controlCharacters`) written
 * as `\xHH` (up to U+00FF) or `\u{HHHH}`, and a backslash as `\\`, so an escape printed here cannot
 * be confused with one that was typed. Plain text comes back unchanged.
 */
export const escape = (text: string): string =>
  text.replace(unsafe, (char) => {
    if (char === "\\") return "\\\\"
    const codePoint = char.codePointAt(0)!
    return codePoint <= 0xff ? `\\x${hex(codePoint, 2)}` : `\\u{${hex(codePoint, 4)}}`
  })
