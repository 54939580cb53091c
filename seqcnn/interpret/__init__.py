"""seqcnn.interpret"""
