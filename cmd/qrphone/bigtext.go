package main

import "strings"

// glyphs is a 5×5 block font for the user code's alphabet: the 20
// consonants of RFC 8628 §6.1's base-20 example (no vowels, so no words)
// and the dash between its halves.
var glyphs = map[rune][5]string{
	'B': {"#### ", "#   #", "#### ", "#   #", "#### "},
	'C': {" ####", "#    ", "#    ", "#    ", " ####"},
	'D': {"#### ", "#   #", "#   #", "#   #", "#### "},
	'F': {"#####", "#    ", "#### ", "#    ", "#    "},
	'G': {" ####", "#    ", "#  ##", "#   #", " ####"},
	'H': {"#   #", "#   #", "#####", "#   #", "#   #"},
	'J': {"    #", "    #", "    #", "#   #", " ### "},
	'K': {"#   #", "#  # ", "###  ", "#  # ", "#   #"},
	'L': {"#    ", "#    ", "#    ", "#    ", "#####"},
	'M': {"#   #", "## ##", "# # #", "#   #", "#   #"},
	'N': {"#   #", "##  #", "# # #", "#  ##", "#   #"},
	'P': {"#### ", "#   #", "#### ", "#    ", "#    "},
	'Q': {" ### ", "#   #", "# # #", "#  # ", " ## #"},
	'R': {"#### ", "#   #", "#### ", "#  # ", "#   #"},
	'S': {" ####", "#    ", " ### ", "    #", "#### "},
	'T': {"#####", "  #  ", "  #  ", "  #  ", "  #  "},
	'V': {"#   #", "#   #", "#   #", " # # ", "  #  "},
	'W': {"#   #", "#   #", "# # #", "## ##", "#   #"},
	'X': {"#   #", " # # ", "  #  ", " # # ", "#   #"},
	'Z': {"#####", "   # ", "  #  ", " #   ", "#####"},
	'-': {"     ", "     ", " ### ", "     ", "     "},
}

// bigText renders s in large block letters, five lines high, or returns ""
// when s has a character outside the font (the plain code is always shown
// too, so nothing is lost).
func bigText(s string) string {
	if s == "" {
		return ""
	}
	var rows [5]strings.Builder
	for i, r := range s {
		g, ok := glyphs[r]
		if !ok {
			return ""
		}
		for y := range rows {
			if i > 0 {
				rows[y].WriteString("  ")
			}
			rows[y].WriteString(strings.ReplaceAll(g[y], "#", "█"))
		}
	}
	var b strings.Builder
	for y := range rows {
		b.WriteString("  ")
		b.WriteString(strings.TrimRight(rows[y].String(), " "))
		b.WriteByte('\n')
	}
	return b.String()
}
