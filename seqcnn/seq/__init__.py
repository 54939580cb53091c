"""seqcnn.seq"""
