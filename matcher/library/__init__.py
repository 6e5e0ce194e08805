"""Reference library: analysed references kept in a folder, chosen by closeness, grouped
into styles."""
