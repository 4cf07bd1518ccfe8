"""psychometrics"""
