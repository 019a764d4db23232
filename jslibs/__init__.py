"""The JavaScript half of Robot Runtime, shipped as package data (see runtime.jslibs)."""
